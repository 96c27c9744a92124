#include "engine.hpp"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cstring>
#include <gsl/assert>
#include <gsl/narrow>
#include <gsl/util>

#include "errors.hpp"
#include "session_facts.hpp"
#include "version_check.hpp"
#include "uptls/backend.hpp"

namespace uptls::detail::gtls {
namespace {

// Warning alerts, post-handshake messages, interrupted calls and refused
// renegotiations each cost one more round (and one record from the peer); a
// peer that sends nothing else is cut off after this many.
constexpr int max_rounds = 256;

}  // namespace

gnutls_engine::gnutls_engine(std::shared_ptr<const gnutls_context> ctx, transport& io)
    : ctx_(std::move(ctx)), glue_(io) {}

gnutls_engine::~gnutls_engine() {
  if (session_ != nullptr) gnutls_deinit(session_);
}

result<std::unique_ptr<detail::engine>> gnutls_engine::make(std::shared_ptr<const gnutls_context> ctx, transport& io,
                                                    const peer_options& peer) {
  Expects(ctx != nullptr);
  std::unique_ptr<gnutls_engine> e(new gnutls_engine(std::move(ctx), io));
  if (const std::error_code ec = e->setup(peer)) return ec;
  return std::unique_ptr<detail::engine>(std::move(e));
}

std::error_code gnutls_engine::setup(const peer_options& peer) {
  const tls_config& cfg = ctx_->config();
  const role side = ctx_->side();
  Expects(side == role::server || !peer.server_name.empty() || cfg.dangerous_skip_verification);

  unsigned flags = side == role::client ? GNUTLS_CLIENT : GNUTLS_SERVER;
  if (!cfg.resumption) {
    flags |= GNUTLS_NO_TICKETS;
  } else if (!cfg.session_tickets) {
    flags |= GNUTLS_NO_TICKETS_TLS12;  // TLS 1.2 by session ID; TLS 1.3 still by ticket
  }
#ifdef UPTLS_GNUTLS_HAVE_TICKET_SEND
  // Left alone a GnuTLS TLS 1.3 server sends its tickets before it reads the
  // client's Finished, so a client that refuses the certificate meets them
  // after it left. They go out once the handshake is complete (send_tickets).
  if (side == role::server && cfg.resumption) flags |= GNUTLS_NO_AUTO_SEND_TICKET;
#endif
  // Without it GnuTLS sends no certificate when the server's CA list does not
  // name our issuer; other libraries send it and let the server decide.
  if (side == role::client && !cfg.cert_file.empty()) flags |= GNUTLS_FORCE_CLIENT_CERT;
  if (gnutls_init(&session_, flags) < 0) {
    session_ = nullptr;
    return errc::internal;
  }
  gnutls_session_set_ptr(session_, this);
  if (gnutls_priority_set(session_, ctx_->priority()) < 0) return errc::internal;
  if (gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, ctx_->credentials()) < 0) return errc::internal;
  glue_.attach(session_);
  gnutls_handshake_set_timeout(session_, gsl::narrow_cast<unsigned>(std::clamp<long long>(
                                             cfg.handshake_timeout.count(), 1, 24LL * 3600 * 1000)));

  const auto& alpn = ctx_->alpn();
  if (!alpn.empty()) {
    // Mandatory: a server refuses a client whose list has nothing in common
    // (alert 120) and a client refuses a server that picks an unoffered name.
    // A peer that sends no ALPN at all is accepted either way.
    unsigned alpn_flags = GNUTLS_ALPN_MANDATORY;
    if (side == role::server) alpn_flags |= GNUTLS_ALPN_SERVER_PRECEDENCE;
    if (gnutls_alpn_set_protocols(session_, alpn.data(), gsl::narrow<unsigned>(alpn.size()), alpn_flags) < 0) {
      return errc::internal;
    }
  }

  if (side == role::client) {
    server_name_ = peer.server_name;
    if (!server_name_.empty() && !detail::is_ip_literal(server_name_)) {
      if (gnutls_server_name_set(session_, GNUTLS_NAME_DNS, server_name_.data(), server_name_.size()) < 0) {
        return errc::internal;
      }
      sni_sent_ = server_name_;
    }
    if (!cfg.dangerous_skip_verification) gnutls_session_set_verify_function(session_, &gnutls_engine::on_verify);
    if (cfg.resumption) {
      gnutls_handshake_set_hook_function(session_, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET, GNUTLS_HOOK_POST,
                                         &gnutls_engine::on_ticket);
      offer_resumption();
    }
    return {};
  }

  gnutls_handshake_set_hook_function(session_, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                     &gnutls_engine::on_client_hello);
  if (cfg.client_certificates != client_auth::none) {
    gnutls_certificate_server_set_request(
        session_, cfg.client_certificates == client_auth::required ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
    if (!cfg.dangerous_skip_verification) gnutls_session_set_verify_function(session_, &gnutls_engine::on_verify);
  }
  if (const gnutls_datum_t* key = ctx_->ticket_key()) {
    if (gnutls_session_ticket_enable_server(session_, key) < 0) return errc::internal;
  }
  if (server_session_store* store = ctx_->id_store()) {
    // GnuTLS keeps no server cache: without these a TLS 1.2 client that takes
    // no ticket never resumes. The store outlives the session (ctx_ holds it).
    gnutls_db_set_ptr(session_, store);
    gnutls_db_set_store_function(session_, &gnutls_engine::on_db_store);
    gnutls_db_set_retrieve_function(session_, &gnutls_engine::on_db_retrieve);
    gnutls_db_set_remove_function(session_, &gnutls_engine::on_db_remove);
    gnutls_db_set_cache_expiration(session_, gsl::narrow<int>(store->lifetime().count()));
  }
  return {};
}

int gnutls_engine::on_db_store(void* ptr, gnutls_datum_t key, gnutls_datum_t data) {
  auto* store = static_cast<server_session_store*>(ptr);
  const bool kept = store->store(std::span(key.data, key.size), std::span(data.data, data.size),
                                 server_session_store::clock::now());
  return kept ? 0 : GNUTLS_E_DB_ERROR;
}

// GnuTLS frees what this returns with gnutls_free (after wiping it).
gnutls_datum_t gnutls_engine::on_db_retrieve(void* ptr, gnutls_datum_t key) {
  auto* store = static_cast<server_session_store*>(ptr);
  auto found = store->retrieve(std::span(key.data, key.size), server_session_store::clock::now());
  if (!found || found->empty()) return {nullptr, 0};
  auto* copy = static_cast<unsigned char*>(gnutls_malloc(found->size()));
  gnutls_datum_t out{nullptr, 0};
  if (copy != nullptr) {
    std::memcpy(copy, found->data(), found->size());
    out = {copy, static_cast<unsigned>(found->size())};
  }
  explicit_bzero(found->data(), found->size());
  return out;
}

int gnutls_engine::on_db_remove(void* ptr, gnutls_datum_t key) {
  return static_cast<server_session_store*>(ptr)->remove(std::span(key.data, key.size)) ? 0 : GNUTLS_E_DB_ERROR;
}

// Client: hands GnuTLS the resumption data kept for this server name, if any.
// Data GnuTLS refuses (corrupt, expired) is forgotten; the handshake is full.
void gnutls_engine::offer_resumption() {
  if (server_name_.empty()) return;
  auto data = ctx_->cache().find(server_name_);
  if (!data) return;
  if (gnutls_session_set_data(session_, data->data(), data->size()) < 0) {
    ctx_->cache().erase(server_name_);
  } else {
    offered_resumption_ = true;
  }
  explicit_bzero(data->data(), data->size());
}

// Client: keeps what resumes this session later. Under TLS 1.3 only called once
// a ticket has arrived: before that gnutls_session_get_data2 would wait for one
// on the transport.
void gnutls_engine::remember_session() {
  if (server_name_.empty()) return;
  if (gnutls_protocol_get_version(session_) == GNUTLS_TLS1_3 &&
      (gnutls_session_get_flags(session_) & GNUTLS_SFLAGS_SESSION_TICKET) == 0) {
    return;
  }
  gnutls_datum_t data{nullptr, 0};
  if (gnutls_session_get_data2(session_, &data) < 0) return;
  auto release = gsl::finally([&] {
    if (data.data != nullptr) {
      gnutls_memset(data.data, 0, data.size);
      gnutls_free(data.data);
    }
  });
  if (data.size > 0) ctx_->cache().store(server_name_, std::span(data.data, data.size));
}

int gnutls_engine::on_verify(gnutls_session_t session) {
  auto* self = static_cast<gnutls_engine*>(gnutls_session_get_ptr(session));
  const tls_config& cfg = self->ctx_->config();
  self->verify_ = verify_peer(session, self->ctx_->side(), self->server_name_, cfg.client_certificates);
  self->verify_ran_ = true;
  if (!self->verify_.error) return 0;
  return self->verify_.error == errc::cert_required ? GNUTLS_E_CERTIFICATE_REQUIRED
                                                    : GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
}

// Server: a ClientHello without an acceptable version fails as
// protocol_version (alert 70), before GnuTLS words it as a cipher suite mismatch.
int gnutls_engine::on_client_hello(gnutls_session_t session, unsigned /*htype*/, unsigned /*when*/,
                                   unsigned /*incoming*/, const gnutls_datum_t* msg) {
  if (msg == nullptr || msg->data == nullptr) return 0;
  const auto* self = static_cast<gnutls_engine*>(gnutls_session_get_ptr(session));
  const tls_config& cfg = self->ctx_->config();
  const auto offer = check_client_versions(std::span<const std::uint8_t>(msg->data, msg->size), cfg.min_version,
                                           cfg.max_version.value_or(tls_version::tls1_3));
  return offer == version_offer::none ? GNUTLS_E_UNSUPPORTED_VERSION_PACKET : 0;
}

int gnutls_engine::on_ticket(gnutls_session_t session, unsigned /*htype*/, unsigned /*when*/,
                             unsigned /*incoming*/, const gnutls_datum_t* /*msg*/) {
  static_cast<gnutls_engine*>(gnutls_session_get_ptr(session))->ticket_arrived_ = true;
  return 0;
}

result<> gnutls_engine::would_block() const {
  return result<>::blocked(gnutls_record_get_direction(session_) == 1 ? wait_for::write : wait_for::read);
}

std::error_code gnutls_engine::fail_usage() const { return make_error_code(errc::usage); }

result<> gnutls_engine::handshake() {
  if (error_) return sticky();
  if (handshake_done_) return {};
  if (library_done_) return finish_handshake();
  glue_.hold_write_errors(true);
  auto release = gsl::finally([&] { glue_.hold_write_errors(false); });
  for (int round = 0; round < max_rounds; ++round) {
    glue_.clear_blocked();
    const int rc = gnutls_handshake(session_);
    if (rc == GNUTLS_E_SUCCESS) {
      // A flight that never left cannot make a session, whatever GnuTLS thinks.
      if (glue_.held_write_error()) return fail(GNUTLS_E_PUSH_ERROR);
      glue_.hold_write_errors(false);
      library_done_ = true;
#ifdef UPTLS_GNUTLS_HAVE_TICKET_SEND
      tickets_due_ = ctx_->side() == role::server && ctx_->ticket_key() != nullptr &&
                     gnutls_protocol_get_version(session_) == GNUTLS_TLS1_3;
#endif
      return finish_handshake();
    }
    if (rc == GNUTLS_E_AGAIN) {
      if (glue_.blocked()) return would_block();
      continue;
    }
    // A warning alert (say unrecognized_name) does not end the handshake.
    if (rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_WARNING_ALERT_RECEIVED) continue;
    if (gnutls_error_is_fatal(rc) == 0) continue;
    return fail(rc);
  }
  return fail(GNUTLS_E_UNEXPECTED_PACKET);
}

// After gnutls_handshake: the server's TLS 1.3 tickets, then the session is ready.
result<> gnutls_engine::finish_handshake() {
  if (tickets_due_) {
    if (const result<> r = send_tickets(); !r) return r;
  }
  handshake_done_ = true;
  if (ctx_->side() == role::client && ctx_->config().resumption) {
    // TLS 1.2 tickets and session ids come within the handshake; TLS 1.3
    // tickets come later and are picked up by read().
    if (gnutls_protocol_get_version(session_) != GNUTLS_TLS1_3) remember_session();
    ticket_arrived_ = false;
  }
  return {};
}

result<> gnutls_engine::send_tickets() {
#ifdef UPTLS_GNUTLS_HAVE_TICKET_SEND
  // Two, as GnuTLS and OpenSSL send by default.
  constexpr unsigned tickets = 2;
  for (int round = 0; round < max_rounds; ++round) {
    glue_.clear_blocked();
    const int rc = gnutls_session_ticket_send(session_, tickets, 0);
    if (rc == GNUTLS_E_SUCCESS) {
      tickets_due_ = false;
      return {};
    }
    if (rc == GNUTLS_E_AGAIN) {
      if (glue_.blocked()) return would_block();
      continue;
    }
    if (rc == GNUTLS_E_INTERRUPTED) continue;
    return fail(rc);
  }
  return fail(GNUTLS_E_INTERNAL_ERROR);
#else
  tickets_due_ = false;
  return {};
#endif
}

result<std::size_t> gnutls_engine::read(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return sticky();
  if (!handshake_done_) return fail_usage();
  if (peer_closed_) return std::size_t{0};
  for (int round = 0; round < max_rounds; ++round) {
    glue_.clear_blocked();
    const ssize_t n = gnutls_record_recv(session_, buf.data(), buf.size());
    if (ticket_arrived_) {
      ticket_arrived_ = false;
      remember_session();
    }
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      peer_closed_ = true;
      return std::size_t{0};
    }
    const int rc = static_cast<int>(n);
    if (rc == GNUTLS_E_AGAIN) {
      // Also what a TLS 1.3 ticket or key update without data yields.
      if (glue_.blocked()) return would_block();
      continue;
    }
    if (rc == GNUTLS_E_REHANDSHAKE) {
      // Renegotiation is not supported: say so and carry on with the session.
      (void)gnutls_alert_send(session_, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
      continue;
    }
    if (rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_WARNING_ALERT_RECEIVED) continue;
    if (gnutls_error_is_fatal(rc) == 0) continue;
    return fail(rc);
  }
  return fail(GNUTLS_E_UNEXPECTED_PACKET);
}

result<std::size_t> gnutls_engine::write(std::span<const std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return sticky();
  if (!handshake_done_ || close_sent_) return fail_usage();
  for (int round = 0; round < max_rounds; ++round) {
    // After GNUTLS_E_AGAIN GnuTLS holds the record it already built: finish
    // that one (NULL, 0) instead of encrypting the caller's bytes twice.
    glue_.clear_blocked();
    const ssize_t n = send_pending_ ? gnutls_record_send(session_, nullptr, 0)
                                    : gnutls_record_send(session_, buf.data(), buf.size());
    if (n >= 0) {
      send_pending_ = false;
      return static_cast<std::size_t>(n);
    }
    const int rc = static_cast<int>(n);
    if (rc == GNUTLS_E_AGAIN) {
      send_pending_ = true;
      if (glue_.blocked()) return would_block();
      continue;
    }
    if (rc == GNUTLS_E_INTERRUPTED) {
      send_pending_ = true;
      continue;
    }
    return fail(rc);
  }
  return fail(GNUTLS_E_INTERNAL_ERROR);
}

result<> gnutls_engine::close() {
  if (error_) return sticky();
  if (!handshake_done_) return fail_usage();
  if (close_sent_) return {};
  for (int round = 0; round < max_rounds; ++round) {
    // SHUT_WR: send close_notify and return; the peer's may come or not.
    glue_.clear_blocked();
    const int rc = gnutls_bye(session_, GNUTLS_SHUT_WR);
    if (rc == GNUTLS_E_SUCCESS) {
      close_sent_ = true;
      return {};
    }
    if (rc == GNUTLS_E_AGAIN) {
      if (glue_.blocked()) return would_block();
      continue;
    }
    if (rc == GNUTLS_E_INTERRUPTED) continue;
    return fail(rc);
  }
  return fail(GNUTLS_E_INTERNAL_ERROR);
}

std::size_t gnutls_engine::pending() const {
  if (error_ || !handshake_done_) return 0;
  return gnutls_record_check_pending(session_);
}

bool gnutls_engine::verified() const {
  const tls_config& cfg = ctx_->config();
  if (cfg.dangerous_skip_verification) return false;
  if (verify_ran_) return verify_.passed;
  // A resumed TLS 1.3 session skips the check: its certificate was checked
  // when the session was first made, by the same context.
  unsigned count = 0;
  const bool has_peer_cert = gnutls_certificate_get_peers(session_, &count) != nullptr && count > 0;
  return gnutls_session_is_resumed(session_) != 0 && has_peer_cert &&
         (ctx_->side() == role::client || cfg.client_certificates != client_auth::none);
}

session_info gnutls_engine::session() const {
  Expects(handshake_done_);
  return session_facts(session_, ctx_->side(), sni_sent_, verified());
}

// What a fatal GnuTLS error means in uptls terms, from the most specific
// evidence to the least: a failed read, the peer's alert, our own certificate
// check, a failed write, the first bytes on the wire, end of stream, then the
// library's code.
// Sets alert_to_send to the alert that tells the peer, or -1 for none.
std::error_code gnutls_engine::classify(int code, int& alert_to_send) {
  alert_to_send = -1;
  const role side = ctx_->side();
  if (const std::error_code ec = glue_.error()) return ec;
  if (code == GNUTLS_E_FATAL_ALERT_RECEIVED) {
    const int alert = gnutls_alert_get(session_);
    failure_.alert_received = alert;
    return from_alert(alert);
  }
  if (verify_ran_ && verify_.error &&
      (code == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR || code == GNUTLS_E_CERTIFICATE_ERROR ||
       code == GNUTLS_E_CERTIFICATE_REQUIRED)) {
    alert_to_send = verify_.alert;
    return verify_.error;
  }
  // The peer left while we wrote and said nothing we could read.
  if (const std::error_code ec = glue_.held_write_error()) return ec;
  if (!handshake_done_ && glue_.peer_not_tls()) return errc::not_tls;
  if (glue_.eof() || code == GNUTLS_E_PREMATURE_TERMINATION) {
    // Before the handshake is over the connection simply ended; after it,
    // the TLS stream lost its close_notify.
    return handshake_done_ ? errc::truncated : errc::eof;
  }
  const errc e = from_library(code, side);
  if (e == errc::cert_required) {
    // GnuTLS would say decode_error; OpenSSL says certificate_required (TLS 1.3)
    // or handshake_failure (TLS 1.2).
    alert_to_send = gnutls_protocol_get_version(session_) == GNUTLS_TLS1_3 ? GNUTLS_A_CERTIFICATE_REQUIRED
                                                                           : GNUTLS_A_HANDSHAKE_FAILURE;
  } else if (gnutls_error_is_fatal(code) != 0 && e != errc::internal) {
    int level = 0;
    const int alert = gnutls_error_to_alert(code, &level);
    if (alert >= 0 && level == GNUTLS_AL_FATAL) alert_to_send = alert;
  }
  return e;
}

// Best effort: the alert is written now or never (the session is over).
void gnutls_engine::send_fatal_alert(int alert) noexcept {
  if (alert < 0) return;
  if (gnutls_alert_send(session_, GNUTLS_AL_FATAL, static_cast<gnutls_alert_description_t>(alert)) == 0) {
    failure_.alert_sent = alert;
  }
}

std::error_code gnutls_engine::fail(int code) {
  int alert = -1;
  const std::error_code ec = classify(code, alert);
  failure_.library = library_error(code);
  failure_.text = gnutls_strerror(code);
  if (verify_ran_ && verify_.error && ec == verify_.error && verify_.status != 0) {
    gnutls_datum_t out{nullptr, 0};
    if (gnutls_certificate_verification_status_print(verify_.status, GNUTLS_CRT_X509, &out, 0) == 0) {
      failure_.text += ": ";
      failure_.text.append(reinterpret_cast<const char*>(out.data), out.size);
      gnutls_free(out.data);
    }
  } else if ((glue_.error() && ec == glue_.error()) ||
             (glue_.held_write_error() && ec == glue_.held_write_error())) {
    failure_.text += ": " + ec.message();
  }
  glue_.hold_write_errors(false);
  send_fatal_alert(alert);
  // A handshake that failed while offering a session does not offer it again.
  if (offered_resumption_ && !handshake_done_) ctx_->cache().erase(server_name_);
  error_ = ec;
  return sticky();
}

}  // namespace uptls::detail::gtls
