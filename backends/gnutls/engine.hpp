// One TLS connection over GnuTLS: a gnutls_session_t whose records travel
// through the uptls::transport the engine was handed.
#pragma once

#include <gnutls/gnutls.h>

#include <memory>
#include <string>

#include "context.hpp"
#include "transport_glue.hpp"
#include "engine/engine.hpp"
#include "verify.hpp"

namespace uptls::detail::gtls {

class gnutls_engine final : public detail::engine {
 public:
  // A session for one connection over io; errc::internal if GnuTLS cannot
  // make one. The engine keeps ctx alive (GnuTLS borrows its credentials).
  static result<std::unique_ptr<engine>> make(std::shared_ptr<const gnutls_context> ctx, transport& io,
                                               const peer_options& peer);
  ~gnutls_engine() override;
  gnutls_engine(const gnutls_engine&) = delete;
  gnutls_engine& operator=(const gnutls_engine&) = delete;

  result<> handshake() override;
  result<std::size_t> read(std::span<std::byte> buf) override;
  result<std::size_t> write(std::span<const std::byte> buf) override;
  result<> close() override;
  std::size_t pending() const override;
  session_info session() const override;
  const failure_info& failure() const override { return failure_; }
  void rebind(transport& io) noexcept override { glue_.rebind(io); }

 private:
  gnutls_engine(std::shared_ptr<const gnutls_context> ctx, transport& io);
  std::error_code setup(const peer_options& peer);
  result<> finish_handshake();
  result<> send_tickets();
  void offer_resumption();
  void remember_session();
  bool verified() const;

  std::error_code fail(int code);
  std::error_code fail_usage() const;
  std::error_code sticky() const { return error_; }
  result<> would_block() const;
  std::error_code classify(int code, int& alert_to_send);
  void send_fatal_alert(int alert) noexcept;

  static int on_verify(gnutls_session_t session);
  static int on_client_hello(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                             const gnutls_datum_t* msg);
  static int on_db_store(void* ptr, gnutls_datum_t key, gnutls_datum_t data);
  static gnutls_datum_t on_db_retrieve(void* ptr, gnutls_datum_t key);
  static int on_db_remove(void* ptr, gnutls_datum_t key);
  static int on_ticket(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                       const gnutls_datum_t* msg);

  std::shared_ptr<const gnutls_context> ctx_;
  transport_glue glue_;
  gnutls_session_t session_ = nullptr;
  std::string server_name_;  // client: the name checked, and sent as SNI unless an IP literal
  std::string sni_sent_;
  bool library_done_ = false;   // gnutls_handshake succeeded
  bool tickets_due_ = false;    // server: TLS 1.3 tickets still to send after it
  bool handshake_done_ = false; // both, and the session is ready
  bool peer_closed_ = false;
  bool close_sent_ = false;
  bool send_pending_ = false;   // a record_send returned GNUTLS_E_AGAIN and must be resumed
  bool ticket_arrived_ = false; // a NewSessionTicket came in since the last look
  bool offered_resumption_ = false;
  bool verify_ran_ = false;
  verify_result verify_;
  failure_info failure_;
  std::error_code error_;
};

}  // namespace uptls::detail::gtls
