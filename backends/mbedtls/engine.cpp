#include "engine.hpp"

#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>

#include <climits>
#include <gsl/assert>
#include <gsl/narrow>

#include "compat.hpp"
#include "context.hpp"
#include "errors.hpp"
#include "names.hpp"

namespace uptls::mbed {
namespace {

// Handshake steps and retries after a "want" that the transport did not cause
// (mbedTLS asks to be called again after some internal steps). A handshake
// has about twenty steps; the bound only stops a library that never finishes.
constexpr int max_rounds = 1000;

bool wants_io(int ret) noexcept { return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE; }

// The alert that tells the peer why we stopped, for failures after which
// mbedTLS sends none itself (a server missing a required client certificate:
// handshake_failure, as RFC 5246 7.4.6 and OpenSSL say for TLS 1.2).
int alert_for(std::error_code ec, std::uint32_t flags) noexcept {
  if (ec == errc::handshake_failure || ec == errc::cert_required) return MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
  if (ec == errc::protocol_version) return MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION;
  if (ec == errc::no_application_protocol) return MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL;
  if (ec == errc::insufficient_security) return MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY;
  if (ec == errc::bad_message) return MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE;
  if (ec == errc::cert_expired || ec == errc::cert_not_yet_valid || ec == errc::cert_untrusted ||
      ec == errc::cert_self_signed || ec == errc::cert_name_mismatch || ec == errc::cert_invalid) {
    return alert_for_flags(flags);
  }
  return MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR;
}

}  // namespace

result<std::unique_ptr<engine>> make_mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io,
                                                 const peer_options& peer) {
  auto e = std::make_unique<mbed_engine>(std::move(ctx), io);
  if (auto ec = e->setup(peer)) return ec;
  return std::unique_ptr<engine>(std::move(e));
}

mbed_engine::mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io) : ctx_(std::move(ctx)), io_(io) {
  Expects(ctx_ != nullptr);
  mbedtls_ssl_init(&conn_.ssl);
  conn_.owner = this;
  info_.backend = "mbedtls";
}

mbed_engine::~mbed_engine() { mbedtls_ssl_free(&conn_.ssl); }

std::error_code mbed_engine::setup(const peer_options& peer) {
  const tls_config& cfg = ctx_->config();
  const bool client = ctx_->side() == role::client;
  Expects(!client || !peer.server_name.empty() || cfg.dangerous_skip_verification);

  if (mbedtls_ssl_setup(&ssl(), &ctx_->ssl_config()) != 0) return errc::internal;
  mbedtls_ssl_set_bio(&ssl(), this, on_send, on_recv, nullptr);
  mbedtls_ssl_set_verify(&ssl(), on_verify, this);
  if (!client) return {};

  server_name_ = peer.server_name;
  if (auto ip = ip_bytes(server_name_)) {
    // No SNI for an address (RFC 6066 3); mbedTLS would send one and, in 2.28,
    // compare the address with DNS names only. on_verify checks iPAddress SANs.
    expected_ip_ = std::move(ip);
    if (mbedtls_ssl_set_hostname(&ssl(), nullptr) != 0) return errc::internal;
  } else if (!server_name_.empty()) {
    // Both the SNI and the name the certificate is checked against.
    if (mbedtls_ssl_set_hostname(&ssl(), server_name_.c_str()) != 0) return errc::invalid_config;
    sni_ = server_name_;
  }
  if (cfg.resumption && !server_name_.empty()) {
    offered_session_ = ctx_->client_sessions().restore(server_name_, ssl());
  }
  return {};
}

// --- I/O callbacks -------------------------------------------------------

int mbed_engine::on_send(void* self, const unsigned char* buf, std::size_t len) {
  auto* e = static_cast<mbed_engine*>(self);
  if (len == 0) return 0;
  const auto bytes = std::as_bytes(std::span(buf, std::min<std::size_t>(len, INT_MAX)));
  if (e->watching_) {
    e->to_peer_.feed(bytes);
    e->flight_.insert(e->flight_.end(), bytes.begin(), bytes.end());
    return gsl::narrow<int>(bytes.size());
  }
  return e->send_now(bytes);
}

// One write to the transport: the count taken, or an mbedTLS code.
int mbed_engine::send_now(std::span<const std::byte> bytes) {
  const io_result r = io_.write_some(bytes);
  switch (r.status) {
    case io_status::ok:
      return gsl::narrow<int>(r.bytes);
    case io_status::would_block:
      blocked_ = tls_status::want_write;
      return MBEDTLS_ERR_SSL_WANT_WRITE;
    case io_status::eof:
    case io_status::error:
      break;
  }
  io_error_ = r.error ? r.error : make_error_code(errc::connection_reset);
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

// Sends what is held of the current flight: 0 once all of it is out.
int mbed_engine::flush_flight() {
  while (flight_sent_ < flight_.size()) {
    const int n = send_now(std::span(flight_).subspan(flight_sent_));
    if (n < 0) return n;
    flight_sent_ += static_cast<std::size_t>(n);
  }
  flight_.clear();
  flight_sent_ = 0;
  return 0;
}

int mbed_engine::on_recv(void* self, unsigned char* buf, std::size_t len) {
  auto* e = static_cast<mbed_engine*>(self);
  if (len == 0) return 0;
  if (const int flushed = e->flush_flight(); flushed != 0) return flushed;
  const auto bytes = std::as_writable_bytes(std::span(buf, std::min<std::size_t>(len, INT_MAX)));
  const io_result r = e->io_.read_some(bytes);
  switch (r.status) {
    case io_status::ok:
      if (e->watching_) e->from_peer_.feed(bytes.first(r.bytes));
      return gsl::narrow<int>(r.bytes);
    case io_status::would_block:
      e->blocked_ = tls_status::want_read;
      return MBEDTLS_ERR_SSL_WANT_READ;
    case io_status::eof:
      e->io_eof_ = true;
      return 0;  // mbedTLS reports MBEDTLS_ERR_SSL_CONN_EOF
    case io_status::error:
      break;
  }
  e->io_error_ = r.error ? r.error : make_error_code(errc::network);
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

// mbedTLS calls this for every certificate of the verified chain, the top
// first and the peer's own certificate (depth 0) last.
int mbed_engine::on_verify(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  auto* e = static_cast<mbed_engine*>(self);
  if (depth > e->deepest_) e->deepest_ = depth;
  if (depth != 0) return 0;
  e->peer_cert_seen_ = true;
  // A self-signed certificate that is not trusted is the whole chain on its own.
  e->self_signed_leaf_ = e->deepest_ == 0 && self_issued(*crt);
  if (e->expected_ip_ && !has_ip_address(*crt, *e->expected_ip_)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

int mbed_engine::on_server_name(void*, mbedtls_ssl_context* ssl, const unsigned char* name, std::size_t len) {
  auto* conn = reinterpret_cast<connection*>(ssl);
  conn->owner->sni_.assign(reinterpret_cast<const char*>(name), len);
  return 0;  // one certificate for every name: the default one
}

// --- handshake -----------------------------------------------------------

std::uint32_t mbed_engine::verify_result() const noexcept {
  // During a first handshake mbedTLS reports the flags of the session being negotiated.
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl());
  if (flags == 0xFFFFFFFFU) return 0;
  return flags & ~std::uint32_t{MBEDTLS_X509_BADCERT_SKIP_VERIFY | MBEDTLS_X509_BADCERT_MISSING};
}

op_result mbed_engine::handshake() {
  if (error_) return failed();
  if (phase_ == phase::open) return {};
  for (int round = 0; round < max_rounds; ++round) {
    if (handshake_over(ssl())) {
      // The last flight (the server's Finished) is still held here.
      blocked_ = tls_status::ok;
      const int flushed = flush_flight();
      if (flushed == MBEDTLS_ERR_SSL_WANT_WRITE) return {tls_status::want_write, 0, {}};
      if (flushed != 0) return fail(flushed);
      return finish_handshake();
    }
    blocked_ = tls_status::ok;
    const int ret = mbedtls_ssl_handshake_step(&ssl());
    if (ret == 0) {
      if (refuse_presented_client_cert()) return failed();
      continue;
    }
    if (wants_io(ret)) {
      if (blocked_ != tls_status::ok) return {blocked_, 0, {}};
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR);
}

// mbedTLS's "optional" accepts any client certificate and only records what
// was wrong with it. A presented certificate must verify; only its absence is
// tolerated. The step that parsed it has just returned: stop before the
// server's Finished.
bool mbed_engine::refuse_presented_client_cert() {
  if (ctx_->side() != role::server || ctx_->config().client_certificates != client_auth::optional) return false;
  if (!peer_cert_seen_) return false;
  const std::uint32_t bad = verify_result();
  if (bad == 0) return false;
  fail(from_verify_flags(bad, self_signed_leaf_), MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, alert_for_flags(bad));
  return true;
}

op_result mbed_engine::finish_handshake() {
  watching_ = false;  // what follows is encrypted
  phase_ = phase::open;
  record_session();
  if (ctx_->side() == role::client && ctx_->config().resumption && !server_name_.empty()) {
    ctx_->client_sessions().store(server_name_, ssl());
  }
  return {};
}

void mbed_engine::record_session() {
  const tls_config& cfg = ctx_->config();
  const bool client = ctx_->side() == role::client;
  const char* version = mbedtls_ssl_get_version(&ssl());
  info_.version = std::string_view(version ? version : "") == "TLSv1.3" ? tls_version::tls1_3 : tls_version::tls1_2;
  const char* suite = mbedtls_ssl_get_ciphersuite(&ssl());
  info_.cipher = iana_suite_name(suite ? suite : "");
  info_.key_exchange = key_exchange_of(info_.cipher);
  info_.forward_secret = info_.key_exchange == "ECDHE" || info_.key_exchange == "DHE" ||
                         info_.key_exchange == "(EC)DHE";

  // mbedTLS has no getter for these: the server's cleartext flight says. A
  // resumed TLS 1.2 handshake sends no Certificate and exchanges no key.
  const wire_reader& server_flight = client ? from_peer_ : to_peer_;
  info_.resumed = server_flight.saw(hs_type::server_hello) && !server_flight.saw(hs_type::certificate);
  if (info_.key_exchange == "ECDHE") info_.group = group_name(server_flight.named_group());

  if (const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl())) {
    info_.peer_subject = subject_text(*peer);
    info_.peer_names = alt_names(*peer);
  }
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl());
  if (client) {
    info_.verified = !cfg.dangerous_skip_verification && flags == 0;
  } else {
    info_.verified = cfg.client_certificates != client_auth::none && !info_.peer_subject.empty() && flags == 0;
  }
  info_.sni = sni_;
  const char* alpn = mbedtls_ssl_get_alpn_protocol(&ssl());
  info_.alpn = alpn ? alpn : "";
}

// --- data ----------------------------------------------------------------

op_result mbed_engine::read(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return failed();
  if (phase_ != phase::open) return {tls_status::error, 0, make_error_code(errc::usage)};
  if (peer_closed_) return {tls_status::closed, 0, {}};
  auto* out = reinterpret_cast<unsigned char*>(buf.data());
  for (int round = 0; round < max_rounds; ++round) {
    blocked_ = tls_status::ok;
    const int ret = mbedtls_ssl_read(&ssl(), out, buf.size());
    if (ret > 0) return {tls_status::ok, static_cast<std::size_t>(ret), {}};
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      peer_closed_ = true;
      return {tls_status::closed, 0, {}};
    }
    if (ret == 0 || wants_io(ret)) {
      // 0: an empty record, or the end of the transport (then it is an error).
      if (io_eof_) return fail(MBEDTLS_ERR_SSL_CONN_EOF);
      if (blocked_ != tls_status::ok) return {blocked_, 0, {}};
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, -1);
}

op_result mbed_engine::write(std::span<const std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return failed();
  if (phase_ != phase::open || close_sent_) return {tls_status::error, 0, make_error_code(errc::usage)};
  const auto* in = reinterpret_cast<const unsigned char*>(buf.data());
  for (int round = 0; round < max_rounds; ++round) {
    blocked_ = tls_status::ok;
    const int ret = mbedtls_ssl_write(&ssl(), in, buf.size());
    if (ret > 0) return {tls_status::ok, static_cast<std::size_t>(ret), {}};
    if (wants_io(ret) || ret == 0) {
      if (blocked_ != tls_status::ok) return {blocked_, 0, {}};
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, -1);
}

op_result mbed_engine::close() {
  if (error_) return failed();
  if (phase_ != phase::open) return {tls_status::error, 0, make_error_code(errc::usage)};
  blocked_ = tls_status::ok;
  // Called again after want_write, mbedTLS flushes the alert it already queued.
  const int ret = mbedtls_ssl_close_notify(&ssl());
  if (ret == 0) {
    close_sent_ = true;
    return {};
  }
  if (wants_io(ret)) return {blocked_ != tls_status::ok ? blocked_ : tls_status::want_write, 0, {}};
  return fail(ret);
}

std::size_t mbed_engine::pending() const {
  if (phase_ != phase::open) return 0;
  return mbedtls_ssl_get_bytes_avail(&ssl());
}

session_info mbed_engine::session() const { return info_; }

// --- failures ------------------------------------------------------------

int mbed_engine::received_alert(int ret) const noexcept {
  if (from_peer_.fatal_alert() >= 0) return from_peer_.fatal_alert();
  // Encrypted alerts (after the peer's ChangeCipherSpec) only mbedTLS has read.
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) return last_received_alert(ssl());
  return -1;
}

op_result mbed_engine::fail(int ret) {
  failure_facts facts;
  facts.ret = ret;
  facts.alert_received = received_alert(ret);
  facts.alert_sent = to_peer_.fatal_alert();
  facts.verify_flags = verify_result();
  facts.self_signed_leaf = self_signed_leaf_;
  std::error_code ec = classify(facts);
  if (io_error_) ec = io_error_;
  failure_.alert_received = facts.alert_received;

  // mbedTLS leaves some refusals unannounced; say why before the connection closes.
  int alert = -1;
  const bool peer_gone = io_error_ || io_eof_ || facts.alert_received >= 0;
  if (phase_ == phase::handshaking && !peer_gone && !to_peer_.any_alert()) alert = alert_for(ec, facts.verify_flags);
  return fail(ec, ret, alert);
}

op_result mbed_engine::fail(std::error_code ec, int ret, int alert_to_send) {
  if (error_) return failed();
  if (alert_to_send >= 0) send_alert(alert_to_send);
  // Best effort: the alert mbedTLS or we queued goes out unless the transport failed or would block.
  if (!io_error_) flush_flight();
  // A session that led to a failure is not offered again.
  if (offered_session_ && phase_ == phase::handshaking) ctx_->client_sessions().forget(server_name_);
  error_ = ec;
  phase_ = phase::failed;
  failure_.library = library_error(ret);
  failure_.text = io_error_ ? io_error_.message() : library_category().message(ret);
  if (const std::uint32_t flags = verify_result(); flags != 0 && ec.category() == uptls::category() &&
                                                   ec != errc::cert_rejected_by_peer) {
    failure_.text += ": " + verify_text(flags);
  }
  if (failure_.alert_sent < 0) failure_.alert_sent = to_peer_.fatal_alert();
  return failed();
}

void mbed_engine::send_alert(int alert) noexcept {
  blocked_ = tls_status::ok;
  if (mbedtls_ssl_send_alert_message(&ssl(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, static_cast<unsigned char>(alert)) == 0) {
    failure_.alert_sent = alert;
  }
}

}  // namespace uptls::mbed
