#include "probe.hpp"

#include "hints.hpp"
#include "uptls/errc.hpp"
#include "uptls/transport.hpp"

namespace uptls::cli {
namespace {

stage stage_of(attempt_stage s) {
  switch (s) {
    case attempt_stage::connect: return stage::connect;
    case attempt_stage::prelude: return stage::dialogue;
    case attempt_stage::handshake:
    case attempt_stage::checks: return stage::handshake;
    case attempt_stage::done: return stage::tls;
  }
  return stage::connect;
}

}  // namespace

int run_probe(const probe_plan& plan) {
  std::unique_ptr<probe_output> out = plan.json ? make_json_probe_output() : make_text_probe_output();
  out->start(plan);
  int status = exit_ok;
  if (plan.proto->run == nullptr) {
    // Known, so not a usage error: a later uptls will speak it.
    failure_report f;
    f.name = "scheme_not_supported";
    f.text = std::string(plan.proto->name) + ":// (" + std::string(plan.proto->protocol) +
             ") is not supported yet by this version of uptls; it speaks " + scheme_names(true);
    f.exit_status = exit_not_supported;
    out->failure(f);
    status = f.exit_status;
  } else {
    probe_env env(plan, *out);
    status = plan.proto->run(env);
  }
  out->finish(status);
  return status;
}

probe_env::trace_fn probe_env::tracer() {
  return [this](std::string_view dir, std::string_view line) {
    if (dir == "S") ++server_lines_;
    out_.line(dir, line);
  };
}

stream_options probe_env::stream_defaults() const {
  stream_options o;
  o.io_timeout = plan_.timeout;
  o.mode = io_mode::blocking;
  return o;
}

result<stream> probe_env::dial(const stream_options& opts) {
  at(stage::connect);
  socket_options so;
  so.connect_timeout = plan_.timeout;
  auto conn = tcp_connect(plan_.host, plan_.port, so);
  if (!conn) return conn.status();
  at(stage::dialogue);
  return stream(std::move(conn).value(), opts);
}

result<std::shared_ptr<const context>> probe_env::tls_context() {
  if (ctx_) return ctx_;
  tls_config cfg = plan_.tls;
  cfg.security = plan_.security;
  auto made = plan_.library->make_context(cfg, role::client);
  if (!made) return made.status();
  ctx_ = std::move(made).value();
  return ctx_;
}

peer_options probe_env::peer() const { return peer_options{plan_.server_name}; }

fallback_result probe_env::climb(prelude before_tls, const stream_options& opts) {
  fallback_request req;
  req.host = plan_.host;
  req.port = plan_.port;
  req.socket.connect_timeout = plan_.timeout;
  req.stream_opts = opts;
  req.before_tls = std::move(before_tls);
  req.peer = peer();
  req.base = plan_.tls;
  req.ladder = plan_.ladder;
  req.eof_is_trigger = plan_.eof_is_trigger;
  req.observer = [this](const attempt_report& a) { out_.attempt(a); };
  fallback_result res = connect_with_fallback(req);
  out_.outcome(res.report);
  if (res.ok()) at(stage::tls);
  return res;
}

void probe_env::tls_up(const session_info& s) {
  at(stage::tls);
  out_.tls_up(s, cert_check{s.verified, plan_.server_name, plan_.trust});
}

void probe_env::without_tls(std::error_code why) { out_.without_tls(why); }

int probe_env::failed(std::error_code ec, const failure_info* detail) {
  return fail_with(ec, detail, stage_, plan_.laddered() ? plan_.ladder.back().security : plan_.security);
}

int probe_env::ladder_failed(const fallback_report& r) {
  if (r.attempts.empty()) {
    // Refused before anything was dialled: a backend refused the settings.
    failure_report f;
    f.code = r.error ? r.error : make_error_code(errc::internal);
    f.name = error_name(f.code);
    f.text = f.code.message() + " (" + r.why + ")";
    f.exit_status = exit_usage;
    f.hint = hint_for(plan_, hint_facts{f.code, stage::connect, 0, profile::strict, nullptr});
    out_.failure(f);
    return f.exit_status;
  }
  const attempt_report& last = r.attempts.back();
  // The ladder's own verdict (pinned_downgrade, fallback_anomaly) comes first.
  const std::error_code ec = r.error ? r.error : (last.error ? last.error : make_error_code(errc::internal));
  return fail_with(ec, last.stage == attempt_stage::handshake ? &last.failure : nullptr, stage_of(last.stage),
                   last.security);
}

int probe_env::fail_with(std::error_code ec, const failure_info* detail, stage where, profile failed_profile) {
  failure_report f;
  f.code = ec;
  f.name = error_name(ec);
  f.text = ec.message();
  // The wire's detail belongs to a handshake; after a dialogue failure it is stale.
  f.detail = where == stage::handshake || where == stage::tls ? detail : nullptr;
  f.where = where;
  f.exit_status = exit_status_for(ec, where);
  // The server refused us for want of a certificate: a certificate failure.
  if (f.detail != nullptr && f.detail->alert_received == alert_certificate_required) f.exit_status = exit_certificate;
  f.hint = hint_for(plan_, hint_facts{ec, where, server_lines_, failed_profile, f.detail});
  out_.failure(f);
  return f.exit_status;
}

}  // namespace uptls::cli
