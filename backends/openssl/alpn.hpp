// ALPN (RFC 7301): the wire form of a protocol list and the server's choice.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uptls::ossl {

// Length-prefixed wire form ("\x02h2\x08http/1.1"); names were checked non-empty
// and at most 255 bytes by check_config.
std::string alpn_wire(const std::vector<std::string>& protocols);

// The first protocol of ours (server preference) that the client offered, or an
// empty view. A malformed client list chooses nothing.
std::string_view alpn_choose(std::string_view ours_wire, std::span<const unsigned char> offered);

}  // namespace uptls::ossl
