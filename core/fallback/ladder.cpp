// The ladder: for each rung a fresh connection, the caller's prelude, a handshake;
// the classification decides whether the next rung may run, pins keep strict hosts
// strict, and a permissive win on a forward-secret suite is refused as an anomaly.
#include <gsl/assert>
#include <utility>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

using std::to_string;
using uptls::to_string;

// The higher, the more permissive; a ladder must climb strictly.
int permissiveness(profile p) { return p == profile::strict ? 0 : 1; }

std::string rung_name(const rung& r) {
  const std::string lib = r.library != nullptr ? std::string(r.library->name()) : std::string("(no backend)");
  return lib + " " + std::string(to_string(r.security));
}

std::string attempt_name(std::size_t index, const rung& r) {
  return "attempt " + to_string(index + 1) + " (" + rung_name(r) + ")";
}

struct problem {
  std::error_code error;
  std::string why;
};

problem find_problem(std::span<const rung> ladder) {
  if (ladder.empty()) return {errc::usage, "the ladder is empty"};
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    const rung& r = ladder[i];
    const std::string which = "rung " + to_string(i + 1);
    if (r.library == nullptr) return {errc::unsupported, which + " names no backend compiled into this build"};
    if (r.security == profile::legacy && !r.library->caps().rsa_key_exchange) {
      return {errc::unsupported,
              which + " asks for legacy on " + std::string(r.library->name()) + ", which has no RSA key exchange"};
    }
    if (i > 0 && permissiveness(r.security) <= permissiveness(ladder[i - 1].security)) {
      return {errc::usage, which + " (" + rung_name(r) + ") is not more permissive than rung " + to_string(i) + " (" +
                               rung_name(ladder[i - 1]) + ")"};
    }
  }
  return {};
}

// One attempt on a fresh connection; fills a and hands back the stream when the
// handshake finished.
std::optional<stream> run_attempt(const fallback_request& req, const std::shared_ptr<const context>& ctx,
                                  const peer_options& peer, attempt_report& a) {
  auto dialled = tcp_connect(req.host, req.port, req.socket);
  if (!dialled) {
    a.stage = attempt_stage::connect;
    a.error = dialled.error();
    return std::nullopt;
  }
  stream s(std::move(dialled).value(), req.stream_opts);

  // The prelude shares the handshake's bound: a server that trickles its greeting
  // cannot hold the ladder for longer than one handshake may take.
  s.lower().set_deadline(clock::now() + req.base.handshake_timeout);
  std::error_code ec = req.before_tls(s);
  s.lower().set_deadline(std::nullopt);
  if (!ec && s.current() != stream::state::plaintext) ec = errc::usage;  // the upgrade is the ladder's
  if (ec) {
    a.stage = attempt_stage::prelude;
    a.error = ec;
    return std::nullopt;
  }

  ec = s.start_tls(ctx, peer);
  if (ec) {
    a.stage = attempt_stage::handshake;
    a.error = ec;
    a.failure = s.last_failure();
    return std::nullopt;  // start_tls closed the transport: nothing more is sent
  }
  a.stage = attempt_stage::done;
  a.session = *s.session();
  return s;
}

}  // namespace

prelude implicit_tls() {
  return [](stream&) { return std::error_code{}; };
}

std::error_code check_ladder(std::span<const rung> ladder) { return find_problem(ladder).error; }

fallback_result connect_with_fallback(const fallback_request& req) {
  fallback_result out;
  fallback_report& rep = out.report;
  rep.host = req.host;
  rep.port = req.port;
  const auto refuse = [&](std::error_code ec, const std::string& why) {
    rep.error = ec;
    rep.why = "refused before dialling: " + why;
    return std::move(out);
  };

  if (req.host.empty() || req.port == 0) return refuse(errc::usage, "no host or port to dial");
  if (!req.before_tls) return refuse(errc::usage, "no prelude (use implicit_tls() for implicit TLS)");
  if (const problem p = find_problem(req.ladder); p.error) return refuse(p.error, p.why);

  peer_options peer = req.peer;
  if (peer.server_name.empty()) peer.server_name = req.host;

  // Every rung's context first, so that a bad setting is found before any dial.
  std::vector<std::shared_ptr<const context>> contexts;
  for (std::size_t i = 0; i < req.ladder.size(); ++i) {
    tls_config cfg = req.base;
    cfg.security = req.ladder[i].security;
    auto made = req.ladder[i].library->make_context(cfg, role::client);
    if (!made) {
      return refuse(made.error(), "rung " + to_string(i + 1) + " (" + rung_name(req.ladder[i]) +
                                      "): the backend refused the configuration");
    }
    contexts.push_back(std::move(made).value());
  }

  rep.was_pinned = req.pins != nullptr && req.pins->is_pinned(req.host, req.port);
  const std::string where = req.host + ":" + to_string(req.port);
  const auto finish = [&](attempt_report&& a) {
    if (req.observer) req.observer(a);
    rep.attempts.push_back(std::move(a));
  };

  for (std::size_t i = 0; i < req.ladder.size(); ++i) {
    const rung& r = req.ladder[i];
    attempt_report a;
    a.rung = i;
    a.rungs = req.ladder.size();
    a.backend = std::string(r.library->name());
    a.security = r.security;
    const auto started = clock::now();
    std::optional<stream> s = run_attempt(req, contexts[i], peer, a);
    a.elapsed = std::chrono::duration_cast<milliseconds>(clock::now() - started);

    if (s) {
      Expects(a.session.has_value());
      // Only a rung reached by a policy failure exists past the first: if it still
      // lands on forward secrecy, the server could have done strict after all.
      if (i > 0 && r.security == profile::legacy && a.session->forward_secret) {
        (void)s->close();
        a.stage = attempt_stage::checks;
        a.error = errc::fallback_anomaly;
        a.why = "the permissive retry negotiated a forward-secret suite, so the strict failure was not the "
                "server's policy (possible attack); session closed";
        rep.error = errc::fallback_anomaly;
        rep.why = attempt_name(i, r) + " negotiated a forward-secret suite after " + attempt_name(i - 1, req.ladder[i - 1]) +
                  " failed as a policy mismatch: possible attack, nothing handed back";
        finish(std::move(a));
        return out;
      }
      if (r.security == profile::strict) {
        a.why = "strict handshake completed";
        if (req.pins != nullptr) {
          rep.pin_error = req.pins->pin(req.host, req.port);
          a.why += "; " + where + " pinned strict";
        }
      } else {
        a.why = std::string(i > 0 ? "legacy session after a policy fallback" : "legacy handshake completed") +
                (a.session->forward_secret ? ", forward secret" : ", not forward secret");
      }
      rep.error.clear();
      rep.why = attempt_name(i, r) + " won" +
                (i > 0 ? " after a fallback from " + attempt_name(i - 1, req.ladder[i - 1]) : std::string());
      finish(std::move(a));
      rep.winner = rep.attempts.size() - 1;
      out.connection = std::move(s);
      return out;
    }

    const fallback_verdict v = classify_failure(a.stage, a.error, a.failure, req.eof_is_trigger);
    a.allows_next = v.allows_next;
    a.why = std::string(v.why);
    rep.error = a.error;
    if (!v.allows_next) {
      rep.why = attempt_name(i, r) + " failed in a way that is never retried";
    } else if (rep.was_pinned && r.security == profile::strict) {
      a.allows_next = false;
      a.why = where + " is pinned strict, no fallback (" + a.why + ")";
      rep.error = errc::pinned_downgrade;
      rep.why = where + " is pinned strict and " + attempt_name(i, r) +
                " failed as a policy mismatch: possible downgrade attack, no retry";
    } else if (i + 1 == req.ladder.size()) {
      a.allows_next = false;
      a.why += "; no rung left";
      rep.why = attempt_name(i, r) + " failed and no rung is left";
    }
    const bool go_on = a.allows_next;
    finish(std::move(a));
    if (!go_on) return out;
  }
  Expects(false);  // every rung either returns or allows the next; the last never does
  return out;
}

}  // namespace uptls
