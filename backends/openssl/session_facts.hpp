// What a finished handshake negotiated, read off an SSL in uptls terms.
#pragma once

#include <openssl/ssl.h>

#include "uptls/backend.hpp"
#include "uptls/session.hpp"

namespace uptls::ossl {

// The session facts; `verifying` says whether the peer's certificate was asked
// for and checked (false with dangerous_skip_verification or no client auth).
session_info describe_session(const SSL* ssl, role side, bool verifying, const peer_options& peer);

// The IANA name of a key exchange group NID ("x25519", "secp256r1", ...).
std::string group_name(int nid);

}  // namespace uptls::ossl
