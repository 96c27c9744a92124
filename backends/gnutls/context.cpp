#include "context.hpp"

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
                                                            role side) {
  // Not make_shared: the constructor is private and engines need shared_from_this.
  std::shared_ptr<gnutls_context> ctx(new gnutls_context(owner, cfg, side));
  if (const std::error_code ec = ctx->compile()) return ec;
  return std::shared_ptr<const context>(std::move(ctx));
}

std::error_code gnutls_context::compile() {
  if (cfg_.alpn.size() > max_alpn_protocols) return errc::unsupported;
  for (const std::string& p : cfg_.alpn) {
    if (p.size() > max_alpn_name) return errc::unsupported;
    // GnuTLS copies the names; the datum only borrows cfg_'s bytes meanwhile.
    alpn_.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                     static_cast<unsigned>(p.size())});
  }

  if (gnutls_certificate_allocate_credentials(&creds_) < 0) return errc::internal;
  if (const std::error_code ec = load_trust()) return ec;
  if (const std::error_code ec = load_identity()) return ec;

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

std::error_code gnutls_context::load_trust() {
  if (!cfg_.ca_file.empty()) {
    const int n = gnutls_certificate_set_x509_trust_file(creds_, cfg_.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (n <= 0) return errc::invalid_config;  // unreadable, not PEM, or no certificate in it
  }
  if (cfg_.system_trust) {
    if (gnutls_certificate_set_x509_system_trust(creds_) < 0) return errc::invalid_config;
  }
  return {};
}

std::error_code gnutls_context::load_identity() {
  if (cfg_.cert_file.empty()) return {};
  // GnuTLS checks that the key belongs to the first certificate
  // (GNUTLS_E_CERTIFICATE_KEY_MISMATCH) unless told not to.
  const int rc = gnutls_certificate_set_x509_key_file2(creds_, cfg_.cert_file.c_str(), cfg_.key_file.c_str(),
                                                       GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rc < 0) return errc::invalid_config;
  return {};
}

result<std::unique_ptr<detail::engine>> gnutls_context::make_engine(transport& io, const peer_options& peer) const {
  return gnutls_engine::make(shared_from_this(), io, peer);
}

}  // namespace uptls::detail::gtls
