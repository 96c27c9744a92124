// What a finished handshake negotiated, read off an SSL in uptls terms.
#pragma once

#include <openssl/ssl.h>

#include "uptls/backend.hpp"
#include "uptls/session.hpp"

namespace uptls::ossl {

// The session facts; `verifying` says whether the peer's certificate was asked
// for and checked (false with dangerous_skip_verification or no client auth).
// The peer certificate is copied as DER and parsed only when asked.
session_info describe_session(const SSL* ssl, role side, bool verifying, const peer_options& peer);

// The IANA number of a key exchange group NID (29 for NID_X25519, ...); none for NID_undef.
named_group group_of_nid(int nid);

}  // namespace uptls::ossl
