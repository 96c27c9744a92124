#include "context.hpp"

#include <unistd.h>

#include <array>

#include "compat.hpp"
#include "engine.hpp"
#include "suites.hpp"

namespace uptls::mbed {
namespace {

constexpr std::string_view personalization = "uptls mbedtls context";
constexpr std::uint32_t ticket_lifetime_s = 86'400;
constexpr int server_cache_timeout_s = 86'400;

std::error_code invalid() { return make_error_code(errc::invalid_config); }

std::error_code refuse(std::string* why, std::string_view text) {
  return detail::refuse(errc::invalid_config, why, text);
}

}  // namespace

std::string_view system_trust_file() noexcept {
  // mbedTLS has no notion of a system store. Debian and Ubuntu keep the bundle
  // in /etc/ssl/certs/ca-certificates.crt; Fedora/RHEL and Alpine/BSD in the others.
  static constexpr std::array<std::string_view, 3> bundles = {
      "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"};
  for (const auto path : bundles) {
    if (access(path.data(), R_OK) == 0) return path;
  }
  return {};
}

mbed_context::mbed_context(const backend& owner, const tls_config& cfg, role side)
    : owner_(owner), cfg_(cfg), side_(side) {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
  mbedtls_x509_crt_init(&trust_);
  mbedtls_x509_crt_init(&own_chain_);
  mbedtls_pk_init(&own_key_);
  mbedtls_ssl_ticket_init(&tickets_);
  mbedtls_ssl_cache_init(&server_sessions_);
  mbedtls_ssl_config_init(&conf_);
}

mbed_context::~mbed_context() {
  mbedtls_ssl_config_free(&conf_);
  mbedtls_ssl_cache_free(&server_sessions_);
  mbedtls_ssl_ticket_free(&tickets_);
  mbedtls_pk_free(&own_key_);
  mbedtls_x509_crt_free(&own_chain_);
  mbedtls_x509_crt_free(&trust_);
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
}

std::error_code mbed_context::setup(std::string* why) {
  if (init_crypto() != 0) return errc::internal;
  const int endpoint = side_ == role::client ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER;
  if (mbedtls_ssl_config_defaults(&conf_, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
    return errc::internal;
  }
  const auto* pers = reinterpret_cast<const unsigned char*>(personalization.data());
  if (mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_, pers, personalization.size()) != 0) {
    return errc::internal;
  }
  mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);

  // The defaults allow TLS 1.0 and plain RSA key exchange: every profile is explicit.
  set_tls12_only(conf_);
  suites_ = profile_suites(cfg_.security);
  mbedtls_ssl_conf_ciphersuites(&conf_, suites_.data());
  set_groups(conf_);

  if (auto ec = load_trust(why)) return ec;
  if (auto ec = load_own_chain(why)) return ec;
  if (auto ec = set_alpn()) return ec;
  if (auto ec = set_resumption()) return ec;

  if (side_ == role::client) {
    mbedtls_ssl_conf_authmode(&conf_, cfg_.dangerous_skip_verification ? MBEDTLS_SSL_VERIFY_NONE
                                                                        : MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    // "optional" is OPTIONAL here, but the engine refuses a certificate that
    // was presented and failed: only its absence is tolerated.
    const int mode = cfg_.client_certificates == client_auth::required   ? MBEDTLS_SSL_VERIFY_REQUIRED
                     : cfg_.client_certificates == client_auth::optional ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                                                         : MBEDTLS_SSL_VERIFY_NONE;
    mbedtls_ssl_conf_authmode(&conf_, mode);
    mbedtls_ssl_conf_sni(&conf_, mbed_engine::on_server_name, nullptr);
  }
  return {};
}

std::error_code mbed_context::load_trust(std::string* why) {
  if (!cfg_.ca_file.empty()) {
    // A caller's own CA file must parse whole: a certificate skipped silently
    // would surface later as a puzzling "untrusted".
    if (mbedtls_x509_crt_parse_file(&trust_, cfg_.ca_file.c_str()) != 0) {
      return refuse(why, "ca_file: unreadable, or a certificate in it does not parse");
    }
  }
  if (!cfg_.ca_pem.empty()) {
    // PEM input is parsed with its terminating NUL counted (mbedTLS's rule).
    const auto* text = reinterpret_cast<const unsigned char*>(cfg_.ca_pem.c_str());
    if (mbedtls_x509_crt_parse(&trust_, text, cfg_.ca_pem.size() + 1) != 0 || trust_.raw.p == nullptr) {
      return refuse(why, "ca_pem: no PEM certificate in it, or a broken one");
    }
  }
  if (cfg_.system_trust) {
    const std::string_view bundle = system_trust_file();
    if (bundle.empty()) return refuse(why, "system_trust: no system CA bundle here");
    // The system bundle may hold a few certificates mbedTLS cannot parse
    // (a positive count); those are skipped, the rest is used.
    if (mbedtls_x509_crt_parse_file(&trust_, bundle.data()) < 0) {
      return refuse(why, "system_trust: the system CA bundle does not parse");
    }
  }
  if (trust_.raw.p != nullptr) mbedtls_ssl_conf_ca_chain(&conf_, &trust_, nullptr);
  return {};
}

std::error_code mbed_context::load_own_chain(std::string* why) {
  const bool files = !cfg_.cert_file.empty();
  if (!files && cfg_.cert_pem.empty()) return {};
  const std::string_view cert_field = files ? "cert_file" : "cert_pem";
  const std::string_view key_field = files ? "key_file" : "key_pem";
  int rc = 0;
  if (files) {
    rc = mbedtls_x509_crt_parse_file(&own_chain_, cfg_.cert_file.c_str());
  } else {
    rc = mbedtls_x509_crt_parse(&own_chain_, reinterpret_cast<const unsigned char*>(cfg_.cert_pem.c_str()),
                                cfg_.cert_pem.size() + 1);
  }
  if (rc != 0 || own_chain_.raw.p == nullptr) {
    return refuse(why, std::string(cert_field) + ": no PEM certificate in it, or a broken one");
  }
  rc = files ? parse_key_file(own_key_, cfg_.key_file.c_str(), cfg_.key_password, drbg_)
             : parse_key(own_key_, cfg_.key_pem, cfg_.key_password, drbg_);
  if (rc != 0) return refuse(why, std::string(key_field) + ": not a PEM private key, or a wrong key_password");
  if (check_pair(own_chain_.pk, own_key_, drbg_) != 0) {
    return refuse(why, std::string(key_field) + ": does not match " + std::string(cert_field));
  }
  if (mbedtls_ssl_conf_own_cert(&conf_, &own_chain_, &own_key_) != 0) {
    return refuse(why, std::string(cert_field) + ": refused by mbedTLS");
  }
  return {};
}

std::error_code mbed_context::set_alpn() {
  if (cfg_.alpn.empty()) return {};
  alpn_names_ = cfg_.alpn;
  for (const auto& name : alpn_names_) alpn_list_.push_back(name.c_str());
  alpn_list_.push_back(nullptr);
  if (mbedtls_ssl_conf_alpn_protocols(&conf_, alpn_list_.data()) != 0) return invalid();
  return {};
}

std::error_code mbed_context::set_resumption() {
  if (side_ == role::client) {
    mbedtls_ssl_conf_session_tickets(&conf_, cfg_.resumption && cfg_.session_tickets
                                                 ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
                                                 : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    return {};
  }
  if (!cfg_.resumption) return {};
  // Tickets (RFC 5077) for clients that take them, a session-id cache for the
  // rest (and for everyone when session_tickets is off).
  mbedtls_ssl_cache_set_timeout(&server_sessions_, server_cache_timeout_s);
  mbedtls_ssl_conf_session_cache(&conf_, &server_sessions_, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
  if (!cfg_.session_tickets) return {};
  if (mbedtls_ssl_ticket_setup(&tickets_, mbedtls_ctr_drbg_random, &drbg_, MBEDTLS_CIPHER_AES_256_GCM,
                               ticket_lifetime_s) != 0) {
    return errc::internal;
  }
  mbedtls_ssl_conf_session_tickets_cb(&conf_, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &tickets_);
  return {};
}

result<std::unique_ptr<detail::engine>> mbed_context::make_engine(transport& io, const peer_options& peer) const {
  return make_mbed_engine(shared_from_this(), io, peer);
}

}  // namespace uptls::mbed
