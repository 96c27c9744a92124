// Owning handles for OpenSSL objects, so that every early return frees them.
#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace uptls::ossl {

template <auto Free>
struct freer {
  template <class T>
  void operator()(T* p) const noexcept { Free(p); }
};

using ctx_ptr = std::unique_ptr<SSL_CTX, freer<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, freer<SSL_free>>;
using bio_ptr = std::unique_ptr<BIO, freer<BIO_free>>;
using x509_ptr = std::unique_ptr<X509, freer<X509_free>>;
using session_ptr = std::unique_ptr<SSL_SESSION, freer<SSL_SESSION_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, freer<GENERAL_NAMES_free>>;

}  // namespace uptls::ossl
