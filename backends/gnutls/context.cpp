#include "context.hpp"

#include <gnutls/x509.h>

#include "engine.hpp"
#include "priority.hpp"

namespace uptls::detail::gtls {
namespace {

// GnuTLS keeps ALPN names in fixed arrays (lib/ext/alpn.h): at most 8 names of
// at most 31 bytes each. Longer lists are refused rather than cut short.
constexpr std::size_t max_alpn_protocols = 8;
constexpr std::size_t max_alpn_name = 31;

// The server's session-ID store: GnuTLS's own default lifetime (6 hours), and
// room for the sessions of a busy server's last minutes. A TLS 1.2 session
// with its peer's certificate packs into roughly 0.3 to 3 KiB.
constexpr std::size_t id_store_capacity = 4096;
constexpr std::chrono::seconds id_store_lifetime{6 * 3600};

}  // namespace

gnutls_context::gnutls_context(const backend& owner, const tls_config& cfg, role side)
    : owner_(owner), cfg_(cfg), side_(side) {}

gnutls_context::~gnutls_context() {
  if (ticket_key_.data != nullptr) {
    gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
    gnutls_free(ticket_key_.data);
  }
  if (priority_ != nullptr) gnutls_priority_deinit(priority_);
  if (creds_ != nullptr) gnutls_certificate_free_credentials(creds_);
}

result<std::shared_ptr<const context>> gnutls_context::make(const backend& owner, const tls_config& cfg,
                                                            role side, std::string* why) {
  // Not make_shared: the constructor is private and engines need shared_from_this.
  std::shared_ptr<gnutls_context> ctx(new gnutls_context(owner, cfg, side));
  if (const std::error_code ec = ctx->compile(why)) return ec;
  return std::shared_ptr<const context>(std::move(ctx));
}

std::error_code gnutls_context::compile(std::string* why) {
  if (cfg_.alpn.size() > max_alpn_protocols) return errc::unsupported;
  for (const std::string& p : cfg_.alpn) {
    if (p.size() > max_alpn_name) return errc::unsupported;
    // GnuTLS copies the names; the datum only borrows cfg_'s bytes meanwhile.
    alpn_.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                     static_cast<unsigned>(p.size())});
  }

  if (gnutls_certificate_allocate_credentials(&creds_) < 0) return errc::internal;
  if (const std::error_code ec = load_trust(why)) return ec;
  if (const std::error_code ec = load_identity(why)) return ec;

  const std::string prio = priority_string(cfg_, side_);
  if (gnutls_priority_init2(&priority_, prio.c_str(), nullptr, 0) < 0) return errc::internal;

  if (side_ == role::server && cfg_.resumption) {
    // The ticket key serves TLS 1.3 always and TLS 1.2 unless session_tickets
    // is off (the engine's GNUTLS_NO_TICKETS_TLS12); IDs serve TLS 1.2 clients
    // that take no ticket.
    if (gnutls_session_ticket_key_generate(&ticket_key_) < 0) return errc::internal;
    id_store_ = std::make_unique<server_session_store>(id_store_capacity, id_store_lifetime);
  }
  return {};
}

namespace {

std::error_code refuse(std::string* why, std::string_view text) {
  if (why != nullptr) *why = text;
  return errc::invalid_config;
}

gnutls_datum_t datum_of(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())), static_cast<unsigned>(s.size())};
}

// Whether pem holds at least one certificate and nothing broken, so that a
// failure names the half that is wrong (GnuTLS's own call does not say).
bool certificates_parse(const gnutls_datum_t& pem) {
  gnutls_x509_crt_t* list = nullptr;
  unsigned n = 0;
  if (gnutls_x509_crt_list_import2(&list, &n, &pem, GNUTLS_X509_FMT_PEM, 0) < 0) {
    return false;
  }
  for (unsigned i = 0; i < n; ++i) gnutls_x509_crt_deinit(list[i]);
  gnutls_free(list);
  return n > 0;
}

bool key_parses(const gnutls_datum_t& pem, const char* password) {
  gnutls_x509_privkey_t key = nullptr;
  if (gnutls_x509_privkey_init(&key) < 0) return false;
  const int rc = gnutls_x509_privkey_import2(key, &pem, GNUTLS_X509_FMT_PEM, password, 0);
  gnutls_x509_privkey_deinit(key);
  return rc >= 0;
}

}  // namespace

std::error_code gnutls_context::load_trust(std::string* why) {
  if (!cfg_.ca_file.empty()) {
    const int n = gnutls_certificate_set_x509_trust_file(creds_, cfg_.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (n <= 0) return refuse(why, "ca_file: unreadable, or no PEM certificate in it");
  }
  if (!cfg_.ca_pem.empty()) {
    const gnutls_datum_t pem = datum_of(cfg_.ca_pem);
    if (!certificates_parse(pem) || gnutls_certificate_set_x509_trust_mem(creds_, &pem, GNUTLS_X509_FMT_PEM) <= 0) {
      return refuse(why, "ca_pem: no PEM certificate in it, or a broken one");
    }
  }
  if (cfg_.system_trust) {
    if (gnutls_certificate_set_x509_system_trust(creds_) < 0) {
      return refuse(why, "system_trust: the system store cannot be read");
    }
  }
  return {};
}

std::error_code gnutls_context::load_identity(std::string* why) {
  const char* password = cfg_.key_password.empty() ? nullptr : cfg_.key_password.c_str();
  // GnuTLS checks that the key belongs to the first certificate
  // (GNUTLS_E_CERTIFICATE_KEY_MISMATCH) unless told not to.
  if (!cfg_.cert_file.empty()) {
    const int rc = gnutls_certificate_set_x509_key_file2(creds_, cfg_.cert_file.c_str(), cfg_.key_file.c_str(),
                                                         GNUTLS_X509_FMT_PEM, password, 0);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) return refuse(why, "key_file: does not match cert_file");
    if (rc < 0) return refuse(why, "cert_file/key_file: unreadable, not PEM, or key_file with a wrong key_password");
    return {};
  }
  if (cfg_.cert_pem.empty()) return {};
  const gnutls_datum_t cert = datum_of(cfg_.cert_pem);
  const gnutls_datum_t key = datum_of(cfg_.key_pem);
  if (!certificates_parse(cert)) return refuse(why, "cert_pem: no PEM certificate in it, or a broken one");
  if (!key_parses(key, password)) return refuse(why, "key_pem: not a PEM private key, or a wrong key_password");
  const int rc = gnutls_certificate_set_x509_key_mem2(creds_, &cert, &key, GNUTLS_X509_FMT_PEM, password, 0);
  if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) return refuse(why, "key_pem: does not match cert_pem");
  if (rc < 0) return refuse(why, "cert_pem/key_pem: refused by GnuTLS");
  return {};
}

result<std::unique_ptr<detail::engine>> gnutls_context::make_engine(transport& io, const peer_options& peer) const {
  return gnutls_engine::make(shared_from_this(), io, peer);
}

}  // namespace uptls::detail::gtls
