#include "context.hpp"

#include <openssl/err.h>

#include <gsl/util>

#include "alpn.hpp"
#include "engine.hpp"
#include "identity.hpp"
#include "profile.hpp"

namespace uptls::ossl {
namespace {

// Any id will do as long as it is set: OpenSSL refuses to resume a session of a
// server that verifies client certificates without one.
constexpr unsigned char session_id_context[] = "uptls";

// Accepts every server name (choosing by name is the application's business).
// Without a servername callback OpenSSL keeps the name out of the session, and
// a resumed TLS 1.2 session then reports no SNI where the other backends do.
int accept_server_name(SSL* /*ssl*/, int* /*alert*/, void* /*arg*/) { return SSL_TLSEXT_ERR_OK; }

}  // namespace

openssl_context::openssl_context(token, const backend& owner, const tls_config& cfg, role side, ctx_ptr ctx)
    : owner_(owner), cfg_(cfg), side_(side), ctx_(std::move(ctx)) {}

result<std::shared_ptr<const context>> openssl_context::make(const backend& owner, const tls_config& cfg,
                                                            role side, std::string* why) {
  // Failed loads leave codes in this thread's queue; never let them leak into the
  // next engine's failure report.
  auto clear = gsl::finally([] { ERR_clear_error(); });
  ctx_ptr ctx(SSL_CTX_new(side == role::client ? TLS_client_method() : TLS_server_method()));
  if (!ctx) return errc::internal;
  auto made = std::make_shared<openssl_context>(token{}, owner, cfg, side, std::move(ctx));
  if (const std::error_code ec = made->setup(why)) return ec;
  return std::shared_ptr<const context>(std::move(made));
}

std::error_code openssl_context::setup(std::string* why) {
  SSL_CTX* ctx = ctx_.get();
  if (auto ec = apply_profile(ctx, cfg_, side_)) return ec;
  if (auto ec = load_trust(ctx, cfg_, side_, why)) return ec;
  if (auto ec = load_identity(ctx, cfg_, why)) return ec;
  set_verification(ctx, cfg_, side_);

  if (!cfg_.alpn.empty()) {
    alpn_wire_ = alpn_wire(cfg_.alpn);
    if (side_ == role::client) {
      const auto* data = reinterpret_cast<const unsigned char*>(alpn_wire_.data());
      // Unlike most of OpenSSL, this one returns 0 on success.
      if (SSL_CTX_set_alpn_protos(ctx, data, static_cast<unsigned>(alpn_wire_.size())) != 0) return errc::internal;
    } else {
      SSL_CTX_set_alpn_select_cb(ctx, select_alpn, this);
    }
  }

  // TLS 1.2 by session ID only: no ticket asked for or issued (TLS 1.3 still
  // resumes: an OpenSSL server then issues stateful tickets from its cache).
  if (cfg_.resumption && !cfg_.session_tickets) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

  if (side_ == role::server) {
    if (SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof session_id_context - 1) != 1) {
      return errc::internal;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, accept_server_name);
    if (!cfg_.resumption) {
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(ctx, 0);
    }
  } else if (cfg_.resumption) {
    // OpenSSL's client cache is only a hook: keep sessions ourselves, by name.
    cache_ = std::make_unique<session_cache>();
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  return {};
}

// Server preference; a client whose offer has nothing in common gets a fatal
// no_application_protocol alert (RFC 7301 3.2) rather than a silent fallback.
int openssl_context::select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                                 const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const openssl_context*>(arg);
  const std::string_view chosen = alpn_choose(self->alpn_wire_, std::span(in, inlen));
  if (chosen.empty()) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = reinterpret_cast<const unsigned char*>(chosen.data());
  *outlen = static_cast<unsigned char>(chosen.size());
  return SSL_TLSEXT_ERR_OK;
}

int openssl_context::on_new_session(SSL* ssl, SSL_SESSION* sess) {
  openssl_engine* eng = openssl_engine::from(ssl);
  if (eng == nullptr) return 0;
  session_cache* cache = eng->owner().cache();
  if (cache == nullptr) return 0;
  cache->put(eng->server_name(), sess);
  return 1;  // the cache owns the reference now
}

result<std::unique_ptr<detail::engine>> openssl_context::make_engine(transport& io, const peer_options& peer) const {
  return openssl_engine::make(shared_from_this(), io, peer);
}

}  // namespace uptls::ossl
