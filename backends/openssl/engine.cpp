#include "engine.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <gsl/assert>

#include "errors.hpp"
#include "session_facts.hpp"

namespace uptls::ossl {
namespace {

// The ex_data slot where an SSL points back to its engine, for the callbacks.
int engine_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::error_code usage() { return make_error_code(errc::usage); }

// OpenSSL's own words for the failure, drained from this thread's error queue.
std::string drain_error_text(long verify_result, const std::error_code& transport) {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      text += " (";
      text += X509_verify_cert_error_string(verify_result);
      text += ")";
    }
  }
  if (transport) {
    if (!text.empty()) text += "; ";
    text += "transport: " + transport.message();
  }
  return text;
}

}  // namespace

openssl_engine::openssl_engine(std::shared_ptr<const openssl_context> ctx, transport& io, const peer_options& peer)
    : ctx_(std::move(ctx)), peer_(peer) {
  io_.io = &io;
}

result<std::unique_ptr<detail::engine>> openssl_engine::make(std::shared_ptr<const openssl_context> ctx, transport& io,
                                                    const peer_options& peer) {
  Expects(ctx != nullptr);
  Expects(ctx->side() == role::server || !peer.server_name.empty() || ctx->config().dangerous_skip_verification);
  auto eng = std::make_unique<openssl_engine>(std::move(ctx), io, peer);
  if (const std::error_code ec = eng->prepare()) {
    ERR_clear_error();
    return ec;
  }
  return std::unique_ptr<detail::engine>(std::move(eng));
}

openssl_engine* openssl_engine::from(const SSL* ssl) noexcept {
  if (ssl == nullptr || engine_index() < 0) return nullptr;
  return static_cast<openssl_engine*>(SSL_get_ex_data(ssl, engine_index()));
}

std::error_code openssl_engine::prepare() {
  ssl_.reset(SSL_new(ctx_->native()));
  if (!ssl_) return errc::internal;
  SSL* ssl = ssl_.get();
  BIO* bio = make_transport_bio(io_);
  if (bio == nullptr) return errc::internal;
  SSL_set_bio(ssl, bio, bio);  // one reference for both directions, owned by the SSL
  if (engine_index() < 0 || SSL_set_ex_data(ssl, engine_index(), this) != 1) return errc::internal;
  SSL_set_info_callback(ssl, on_info);

  if (ctx_->side() == role::server) {
    SSL_set_accept_state(ssl);
    return {};
  }
  SSL_set_connect_state(ssl);
  const std::string& name = peer_.server_name;
  if (name.empty()) return {};
  const bool ip = detail::is_ip_literal(name);
  // RFC 6066: SNI carries host names only, never address literals.
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return errc::invalid_config;
  if (!ctx_->config().dangerous_skip_verification) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    // A wildcard only ever stands for a whole left-most label (RFC 6125 6.4.3).
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (set != 1) return errc::invalid_config;
  }
  if (session_cache* cache = ctx_->cache()) {
    // SSL_set_session takes its own reference; ours goes when `offered` does.
    if (session_ptr offered = cache->take(name)) SSL_set_session(ssl, offered.get());
  }
  return {};
}

// SSL_get_error reads the thread's error queue, so a stale entry left by other
// code on this thread must go before each call. Clearing an empty queue costs
// ~840 instructions, twice per record; peeking first makes the common case cheap.
static void clear_stale_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

result<> openssl_engine::handshake() {
  if (fatal_) return fatal_;
  if (phase_ == phase::open) return {};
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    phase_ = phase::open;
    return {};
  }
  return after_failure(ret, op::handshake).status();
}

result<std::size_t> openssl_engine::read(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (fatal_) return fatal_;
  if (phase_ != phase::open) return usage();
  if (peer_closed_) return std::size_t{0};
  clear_stale_errors();
  std::size_t n = 0;
  if (SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n) == 1) return n;
  return after_failure(0, op::read);
}

result<std::size_t> openssl_engine::write(std::span<const std::byte> buf) {
  Expects(!buf.empty());
  if (fatal_) return fatal_;
  if (phase_ != phase::open || close_sent_) return usage();
  clear_stale_errors();
  std::size_t n = 0;
  if (SSL_write_ex(ssl_.get(), buf.data(), buf.size(), &n) == 1) return n;
  return after_failure(0, op::write);
}

result<> openssl_engine::close() {
  if (fatal_) return fatal_;
  if (phase_ != phase::open) return usage();
  if (close_sent_) return {};
  ERR_clear_error();
  // 0 (ours sent, theirs not yet seen) and 1 are both done for a one-way close.
  const int r = SSL_shutdown(ssl_.get());
  if (r >= 0) {
    close_sent_ = true;
    return {};
  }
  return after_failure(r, op::close).status();
}

std::size_t openssl_engine::pending() const {
  const int n = SSL_pending(ssl_.get());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

session_info openssl_engine::session() const {
  if (phase_ != phase::open) {
    session_info none;
    none.backend = std::string(ctx_->owner().name());
    return none;
  }
  const tls_config& cfg = ctx_->config();
  const bool verifying = !cfg.dangerous_skip_verification &&
                         (ctx_->side() == role::client || cfg.client_certificates != client_auth::none);
  session_info s = describe_session(ssl_.get(), ctx_->side(), verifying, peer_);
  s.backend = std::string(ctx_->owner().name());
  return s;
}

// Would-block is a status; everything else is fatal and sticky. The transport's
// own error and end of stream come from bio_state, because OpenSSL only knows
// that the BIO failed.
result<std::size_t> openssl_engine::after_failure(int ret, op what) {
  const int e = SSL_get_error(ssl_.get(), ret);
  if (e == SSL_ERROR_WANT_READ && !io_.error && !io_.eof) return result<std::size_t>::blocked(wait_for::read);
  if (e == SSL_ERROR_WANT_WRITE && !io_.error) return result<std::size_t>::blocked(wait_for::write);
  if (e == SSL_ERROR_ZERO_RETURN && what == op::read) {
    peer_closed_ = true;
    return std::size_t{0};
  }
  failure_facts f;
  f.ssl_error = e;
  f.err = ERR_peek_error();
  f.verify_result = SSL_get_verify_result(ssl_.get());
  f.transport = io_.error;
  f.eof = io_.eof;
  f.handshaking = phase_ == phase::handshaking;
  if (failure_.alert_received < 0) failure_.alert_received = alert_in_reason(f.err);
  f.alert_received = failure_.alert_received;
  f.alert_sent = failure_.alert_sent;
  failure_.library = f.err != 0 ? library_error(f.err) : std::error_code{};
  failure_.text = drain_error_text(f.verify_result, f.transport);
  if (failure_.text.empty() && f.eof) failure_.text = "the transport ended without close_notify";
  return fatal(classify(f));
}

result<std::size_t> openssl_engine::fatal(std::error_code ec) {
  phase_ = phase::failed;
  fatal_ = ec;
  return fatal_;
}

// Alerts are only visible here: OpenSSL's error queue says "alert received" for
// some and nothing at all for the ones we send.
void openssl_engine::on_info(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) return;
  openssl_engine* self = from(ssl);
  if (self == nullptr || (ret >> 8) != SSL3_AL_FATAL) return;
  int& slot = (where & SSL_CB_READ) != 0 ? self->failure_.alert_received : self->failure_.alert_sent;
  if (slot < 0) slot = ret & 0xff;
}

}  // namespace uptls::ossl
