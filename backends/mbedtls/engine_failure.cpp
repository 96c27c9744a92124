// Failed calls: the errc, the detail for failure_info, the alert the peer is owed.
#include "engine.hpp"

#include "compat.hpp"
#include "context.hpp"
#include "errors.hpp"

namespace uptls::mbed {
namespace {

// The alert that tells the peer why we stopped, for failures after which
// mbedTLS sends none itself (a server missing a required client certificate:
// handshake_failure, as RFC 5246 7.4.6 and OpenSSL say for TLS 1.2); -1 for none.
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
  if (ec == errc::internal) return MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR;
  return -1;  // not_tls and the like: a peer that does not speak TLS gets no TLS bytes
}

}  // namespace

int mbed_engine::received_alert(int ret) const noexcept {
  if (from_peer_.fatal_alert() >= 0) return from_peer_.fatal_alert();
  // Encrypted alerts (after the peer's ChangeCipherSpec) only mbedTLS has read.
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) return last_received_alert(ssl());
  return -1;
}

std::error_code mbed_engine::fail(int ret) {
  failure_facts facts;
  facts.ret = ret;
  facts.alert_received = received_alert(ret);
  facts.alert_sent = to_peer_.fatal_alert();
  facts.verify_flags = verify_result();
  facts.self_signed_leaf = self_signed_leaf_;
  std::error_code ec = classify(facts);
  // Before the handshake is over the connection simply ended, as the other
  // backends say; only an open TLS stream can lose its close_notify.
  if (phase_ == phase::handshaking && ec == errc::truncated) ec = errc::eof;
  // Plaintext where TLS was due (a greeting, an HTTP request): a mode or port
  // mix-up, not a malformed TLS message.
  if (phase_ == phase::handshaking && from_peer_.not_tls()) ec = errc::not_tls;
  if (io_error_) ec = io_error_;
  failure_.alert_received = facts.alert_received;

  // mbedTLS leaves some refusals unannounced; say why before the connection closes.
  int alert = -1;
  const bool peer_gone = io_error_ || io_eof_ || facts.alert_received >= 0;
  if (phase_ == phase::handshaking && !peer_gone && !to_peer_.any_alert()) alert = alert_for(ec, facts.verify_flags);
  return fail(ec, ret, alert);
}

std::error_code mbed_engine::fail(std::error_code ec, int ret, int alert_to_send) {
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
  blocked_ = wait_for::none;
  if (mbedtls_ssl_send_alert_message(&ssl(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, static_cast<unsigned char>(alert)) == 0) {
    failure_.alert_sent = alert;
  }
}

}  // namespace uptls::mbed
