// The ladder: for each rung a fresh connection, the caller's prelude, a handshake;
// the classification decides whether the next rung may run, pins keep strict hosts
// strict, and a permissive win on a forward-secret suite is refused as an anomaly.
// It is a state machine (fallback_connector) that never blocks; the blocking
// connect_with_fallback() is a loop over it.
#include <gsl/assert>
#include <utility>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

// Whether the strict profile offers what a session negotiated: TLS 1.3, or a
// forward-secret AEAD suite. Some libraries (GnuTLS) cannot enable AES-CBC for
// RSA key exchange without also enabling it for ECDHE, so a legacy retry may
// land on ECDHE with CBC: forward secret, yet outside strict, so no anomaly.
bool strict_would_offer(const session_info& s) {
  if (s.version == tls_version::tls1_3) return true;
  return s.forward_secret && s.suite.aead;
}

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

// The prelude of implicit TLS: nothing to say, nothing to read.
class no_prelude final : public prelude_dialogue {
 public:
  result<> resume(stream&) override { return {}; }
};

}  // namespace

prelude implicit_tls() {
  return [] { return std::make_unique<no_prelude>(); };
}

result<> check_ladder(std::span<const rung> ladder) { return find_problem(ladder).error; }

class fallback_connector::impl {
 public:
  explicit impl(fallback_request req) : req_(std::move(req)) { prepare(); }

  result<> resume();

  int native_handle() const noexcept { return stream_ ? stream_->native_handle() : -1; }
  wait_for wants() const noexcept {
    if (phase_ == phase::connecting) return wait_for::write;
    return stream_ ? stream_->wants() : wait_for::none;
  }
  std::optional<clock::time_point> next_deadline() const noexcept {
    if (phase_ == phase::connecting) return connect_deadline_;
    return stream_ ? stream_->next_deadline() : std::nullopt;
  }
  result<> wait() {
    result<> w;
    if (phase_ == phase::connecting) w = sock_->wait(wait_for::write, connect_deadline_);
    else if (stream_) w = stream_->wait(stream_->wants());
    // A wait that fails (not at its deadline: that the next resume() sees) ends
    // the attempt in the phase it waited in; the report says so.
    if (w.failed() && w.error() != errc::timeout) wait_error_ = w.error();
    return w;
  }
  fallback_result take() {
    fallback_result done;
    done.report = std::move(out_.report);
    if (phase_ == phase::won && stream_) {
      stream_->set_mode(req_.stream_opts.mode);  // the caller's mode from here on
      done.connection = std::move(stream_);
    }
    stream_.reset();
    phase_ = phase::finished;
    return done;
  }
  const fallback_report& report() const noexcept { return out_.report; }

 private:
  enum class phase { start, connecting, prelude, handshake, draining, won, finished };

  void prepare();
  void refuse(std::error_code ec, const std::string& why) {
    out_.report.error = ec;
    out_.report.why = "refused before dialling: " + why;
    phase_ = phase::finished;
  }
  // The attempt ended in a failure at `stage`: classify, report, go on or stop.
  void attempt_failed(attempt_stage stage, std::error_code ec);
  void attempt_won();
  void finish_attempt() {
    a_.elapsed = std::chrono::duration_cast<milliseconds>(clock::now() - started_);
    if (req_.observer) req_.observer(a_);
    out_.report.attempts.push_back(std::move(a_));
    a_ = {};
  }
  result<> outcome() const {
    if (phase_ == phase::won) return {};
    return out_.report.error ? result<>(out_.report.error) : result<>(errc::usage);
  }

  fallback_request req_;
  fallback_result out_;
  std::vector<std::shared_ptr<const context>> contexts_;
  peer_options peer_;
  std::string where_;
  phase phase_ = phase::start;
  phase after_drain_ = phase::finished;
  std::size_t rung_ = 0;
  attempt_report a_;
  clock::time_point started_;
  std::optional<stream> stream_;
  socket_transport* sock_ = nullptr;  // the transport inside stream_
  std::unique_ptr<prelude_dialogue> prelude_;
  clock::time_point connect_deadline_;
  std::error_code wait_error_;  // a failed wait, for the next resume() to report
};

void fallback_connector::impl::prepare() {
  fallback_report& rep = out_.report;
  rep.host = req_.host;
  rep.port = req_.port;
  if (req_.host.empty() || req_.port == 0) return refuse(errc::usage, "no host or port to dial");
  if (!req_.before_tls) return refuse(errc::usage, "no prelude (use implicit_tls() for implicit TLS)");
  if (const problem p = find_problem(req_.ladder); p.error) return refuse(p.error, p.why);

  peer_ = req_.peer;
  if (peer_.server_name.empty()) peer_.server_name = req_.host;
  // Every rung's context first, so that a bad setting is found before any dial.
  for (std::size_t i = 0; i < req_.ladder.size(); ++i) {
    tls_config cfg = req_.base;
    cfg.security = req_.ladder[i].security;
    auto made = req_.ladder[i].library->make_context(cfg, role::client);
    if (!made) {
      return refuse(made.error(), "rung " + to_string(i + 1) + " (" + rung_name(req_.ladder[i]) +
                                      "): the backend refused the configuration");
    }
    contexts_.push_back(std::move(made).value());
  }
  rep.was_pinned = req_.pins != nullptr && req_.pins->is_pinned(req_.host, req_.port);
  where_ = req_.host + ":" + to_string(req_.port);
}

result<> fallback_connector::impl::resume() {
  if (wait_error_) {
    const std::error_code ec = std::exchange(wait_error_, {});
    const attempt_stage stage = phase_ == phase::connecting ? attempt_stage::connect
                                : phase_ == phase::prelude  ? attempt_stage::prelude
                                                            : attempt_stage::handshake;
    if (phase_ == phase::connecting || phase_ == phase::prelude || phase_ == phase::handshake) {
      if (stream_ && phase_ == phase::handshake) a_.failure = stream_->last_failure();
      attempt_failed(stage, ec);
    }
  }
  // Bounded: each pass through a phase either returns or moves to a later phase
  // of the same attempt, or to the next attempt (at most ladder.size()).
  for (int pass = 0; pass < 64; ++pass) {
    switch (phase_) {
      case phase::won:
      case phase::finished:
        return outcome();

      case phase::start: {
        const rung& r = req_.ladder[rung_];
        a_ = {};
        a_.rung = rung_;
        a_.rungs = req_.ladder.size();
        a_.backend = std::string(r.library->name());
        a_.security = r.security;
        started_ = clock::now();
        socket_options so = req_.socket;
        so.wait_for_connect = false;  // the connector never blocks: it polls the connect
        auto dialled = tcp_connect(req_.host, req_.port, so);
        if (!dialled) {
          attempt_failed(attempt_stage::connect, dialled.error());
          break;
        }
        sock_ = dialled->get();
        stream_options opts = req_.stream_opts;
        opts.mode = io_mode::non_blocking;
        stream_.emplace(std::move(dialled).value(), opts);
        connect_deadline_ = started_ + req_.socket.connect_timeout;
        phase_ = phase::connecting;
        break;
      }

      case phase::connecting: {
        const result<> up = sock_->connect_status();
        if (up.would_block()) {
          if (clock::now() < connect_deadline_) return up;
          attempt_failed(attempt_stage::connect, make_error_code(errc::timeout));
          break;
        }
        if (up.failed()) {
          attempt_failed(attempt_stage::connect, up.error());
          break;
        }
        prelude_ = req_.before_tls();
        // The prelude shares the handshake's bound: a server that trickles its
        // greeting cannot hold the ladder longer than one handshake may take.
        stream_->set_read_deadline(clock::now() + req_.base.handshake_timeout);
        phase_ = phase::prelude;
        break;
      }

      case phase::prelude: {
        result<> r = prelude_->resume(*stream_);
        if (r.would_block()) return r;
        stream_->set_read_deadline(std::nullopt);
        if (r.ok() && stream_->current() != stream::state::plaintext) r = errc::usage;  // the upgrade is the ladder's
        if (r.failed()) {
          attempt_failed(attempt_stage::prelude, r.error());
          break;
        }
        phase_ = phase::handshake;
        break;
      }

      case phase::handshake: {
        const result<> r = stream_->start_tls(contexts_[rung_], peer_);
        if (r.would_block()) return r;
        if (r.failed()) {
          a_.failure = stream_->last_failure();
          attempt_failed(attempt_stage::handshake, r.error());
          break;
        }
        attempt_won();
        break;
      }

      case phase::draining: {
        // Nothing more is sent into a failed session; its socket drains briefly so
        // that our alert is not overtaken by a reset (see stream::close()).
        const result<> r = stream_->close();
        if (r.would_block()) return r;
        stream_.reset();
        sock_ = nullptr;
        phase_ = after_drain_;
        break;
      }
    }
  }
  return errc::internal;  // unreachable: every phase moves on
}

void fallback_connector::impl::attempt_failed(attempt_stage stage, std::error_code ec) {
  fallback_report& rep = out_.report;
  a_.stage = stage;
  a_.error = ec;
  const rung& r = req_.ladder[rung_];
  const fallback_verdict v = classify_failure(stage, ec, a_.failure, req_.eof_is_trigger);
  a_.allows_next = v.allows_next;
  a_.why = std::string(v.why);
  rep.error = ec;
  if (!v.allows_next) {
    rep.why = attempt_name(rung_, r) + " failed in a way that is never retried";
  } else if (rep.was_pinned && r.security == profile::strict) {
    a_.allows_next = false;
    a_.why = where_ + " is pinned strict, no fallback (" + a_.why + ")";
    rep.error = errc::pinned_downgrade;
    rep.why = where_ + " is pinned strict and " + attempt_name(rung_, r) +
              " failed as a policy mismatch: possible downgrade attack, no retry";
  } else if (rung_ + 1 == req_.ladder.size()) {
    a_.allows_next = false;
    a_.why += "; no rung left";
    rep.why = attempt_name(rung_, r) + " failed and no rung is left";
  }
  const bool go_on = a_.allows_next;
  finish_attempt();
  if (go_on) ++rung_;
  after_drain_ = go_on ? phase::start : phase::finished;
  phase_ = stream_ ? phase::draining : after_drain_;
}

void fallback_connector::impl::attempt_won() {
  fallback_report& rep = out_.report;
  const rung& r = req_.ladder[rung_];
  a_.stage = attempt_stage::done;
  a_.session = *stream_->session();
  // Only a rung reached by a policy failure exists past the first: if it still
  // lands on a suite the strict profile offers, the server could have done
  // strict after all.
  if (rung_ > 0 && r.security == profile::legacy && strict_would_offer(*a_.session)) {
    (void)stream_->close();  // a clean close_notify, then the connection is gone
    stream_.reset();
    sock_ = nullptr;
    a_.stage = attempt_stage::checks;
    a_.error = errc::fallback_anomaly;
    a_.why = "the permissive retry negotiated a forward-secret suite, so the strict failure was not the "
             "server's policy (possible attack); session closed";
    rep.error = errc::fallback_anomaly;
    rep.why = attempt_name(rung_, r) + " negotiated a forward-secret suite after " +
              attempt_name(rung_ - 1, req_.ladder[rung_ - 1]) +
              " failed as a policy mismatch: possible attack, nothing handed back";
    finish_attempt();
    phase_ = phase::finished;
    return;
  }
  if (r.security == profile::strict) {
    a_.why = "strict handshake completed";
    if (req_.pins != nullptr) {
      rep.pin_error = req_.pins->pin(req_.host, req_.port).error();
      a_.why += "; " + where_ + " pinned strict";
    }
  } else {
    a_.why = std::string(rung_ > 0 ? "legacy session after a policy fallback" : "legacy handshake completed") +
             (a_.session->forward_secret ? ", forward secret" : ", not forward secret");
  }
  rep.error.clear();
  rep.why = attempt_name(rung_, r) + " won" +
            (rung_ > 0 ? " after a fallback from " + attempt_name(rung_ - 1, req_.ladder[rung_ - 1]) : std::string());
  finish_attempt();
  rep.winner = rep.attempts.size() - 1;
  phase_ = phase::won;
}

fallback_connector::fallback_connector(fallback_request request) : impl_(std::make_unique<impl>(std::move(request))) {}
fallback_connector::~fallback_connector() = default;
fallback_connector::fallback_connector(fallback_connector&&) noexcept = default;
fallback_connector& fallback_connector::operator=(fallback_connector&&) noexcept = default;
result<> fallback_connector::resume() { return impl_->resume(); }
int fallback_connector::native_handle() const noexcept { return impl_->native_handle(); }
wait_for fallback_connector::wants() const noexcept { return impl_->wants(); }
std::optional<clock::time_point> fallback_connector::next_deadline() const noexcept { return impl_->next_deadline(); }
result<> fallback_connector::wait() { return impl_->wait(); }
fallback_result fallback_connector::take() { return impl_->take(); }
const fallback_report& fallback_connector::report() const noexcept { return impl_->report(); }

fallback_result connect_with_fallback(const fallback_request& request) {
  fallback_connector ladder(request);
  for (;;) {
    const result<> r = ladder.resume();
    if (!r.would_block()) break;
    // A wait that times out is seen by the next resume() (the deadline passed);
    // one that fails ends the attempt there, and resume() reports it.
    (void)ladder.wait();
  }
  return ladder.take();
}

}  // namespace uptls
