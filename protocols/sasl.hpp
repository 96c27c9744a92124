// SASL PLAIN (RFC 4616) as the IMAP and ManageSieve dialogues carry it: base64
// (RFC 4648) and the authzid NUL authcid NUL password message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace uptls::detail::sasl {

std::string base64_encode(std::string_view in);
// nullopt for anything but padded base64 of the standard alphabet.
std::optional<std::string> base64_decode(std::string_view in);

struct plain_credentials {
  std::string authzid;  // empty: the same as user
  std::string user;
  std::string password;
};

// The base64 of a PLAIN response with an empty authzid.
std::string plain_response(std::string_view user, std::string_view password);
// A PLAIN response decoded and split; nullopt when it is not base64 or not
// exactly three NUL-separated fields.
std::optional<plain_credentials> parse_plain(std::string_view base64);

}  // namespace uptls::detail::sasl
