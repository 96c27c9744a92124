// The JSON output: `uptls probe --json` prints one object at the end, `uptls
// serve --json` one object per line and event (JSON Lines), `uptls backends
// --json` one object. Everything that the text output splits between standard
// output and standard error is inside the JSON here; nothing else is printed.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "output.hpp"

namespace uptls::cli {
namespace {

using nlohmann::json;

// A server's or a library's text may not be UTF-8; it is replaced, never thrown on.
void emit(const json& j) {
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

// "2026-12-02T10:00:00Z"
std::string iso_utc(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json certificate(const certificate_info* c) {
  if (c == nullptr) return nullptr;
  return {
      {"subject", c->subject},
      {"issuer", c->issuer},
      {"dns_names", c->dns_names},
      {"ip_addresses", c->ip_addresses},
      {"serial", c->serial},
      {"not_before", iso_utc(c->not_before)},
      {"not_after", iso_utc(c->not_after)},
      {"key", std::string(to_string(c->key))},
      {"key_bits", c->key_bits},
      {"sha256", c->sha256},
  };
}

json facts(const session_info& s) {
  char id[8];
  std::snprintf(id, sizeof id, "0x%04X", s.suite.id);
  return {
      {"backend", s.backend},
      {"version", std::string(to_string(s.version))},
      {"cipher", s.suite.name},
      {"cipher_id", id},
      {"aead", s.suite.aead},
      {"key_exchange", std::string(to_string(s.kx))},
      {"group", s.group == named_group::none ? json(nullptr) : json(std::string(to_string(s.group)))},
      {"forward_secret", s.forward_secret},
      {"resumed", s.resumed},
      {"verified", s.verified},
      {"peer_certificate", certificate(s.peer_certificate())},
      {"sni", or_null(s.sni)},
      {"alpn", or_null(s.alpn)},
  };
}

json error_of(std::error_code ec) {
  if (!ec) return nullptr;
  return {{"name", error_name(ec)}, {"text", ec.message()}, {"category", ec.category().name()}, {"value", ec.value()}};
}

json wire(const failure_info& d) {
  json j = {
      {"library", d.library ? json{{"category", d.library.category().name()}, {"value", d.library.value()}, {"text", d.text}}
                            : json(nullptr)},
      {"text", or_null(d.text)},
      {"alert_received", d.alert_received >= 0 ? json(d.alert_received) : json(nullptr)},
      {"alert_sent", d.alert_sent >= 0 ? json(d.alert_sent) : json(nullptr)},
      {"server_handshake_seen", d.server_handshake_seen},
      {"eof_before_server_hello", d.eof_before_server_hello},
  };
  return j;
}

json attempt_json(const attempt_report& a) {
  return {
      {"attempt", a.rung + 1},
      {"of", a.rungs},
      {"backend", a.backend},
      {"profile", std::string(to_string(a.security))},
      {"stage", std::string(to_string(a.stage))},
      {"error", error_of(a.error)},
      {"wire", a.stage == attempt_stage::handshake ? wire(a.failure) : json(nullptr)},
      {"session", a.session ? facts(*a.session) : json(nullptr)},
      {"allows_next", a.allows_next},
      {"why", a.why},
      {"elapsed_ms", a.elapsed.count()},
      {"text", a.to_string()},
  };
}

json failure_json(const failure_report& f) {
  json e = {{"name", f.name}, {"text", f.text}, {"stage", f.code ? json(std::string(to_string(f.where))) : json(nullptr)}};
  if (f.code) {
    e["category"] = f.code.category().name();
    e["value"] = f.code.value();
  }
  e["wire"] = f.detail != nullptr ? wire(*f.detail) : json(nullptr);
  return e;
}

class json_probe final : public probe_output {
 public:
  void start(const probe_plan& p) override {
    j_ = {
        {"url", p.url},
        {"scheme", std::string(p.proto->name)},
        {"protocol", std::string(p.proto->protocol)},
        {"host", p.host},
        {"port", p.port},
        {"tls_start", p.implicit() ? "implicit" : "starttls"},
        {"backend", p.laddered() ? json(nullptr) : json(std::string(p.library->name()))},
        {"profile", p.laddered() ? json(nullptr) : json(std::string(to_string(p.security)))},
        {"ladder", p.laddered() ? json(ladder_text(p.ladder)) : json(nullptr)},
        {"eof_is_trigger", p.eof_is_trigger},
        {"server_name", p.server_name},
        {"trust", p.tls.dangerous_skip_verification ? json(nullptr) : json(p.trust)},
        {"dialogue", json::array()},
        {"tls", nullptr},
        {"certificate", nullptr},
        {"without_tls", nullptr},
        {"capabilities", json::array()},
        {"message", nullptr},
        {"fallback", nullptr},
        {"ok", false},
        {"exit_status", nullptr},
        {"error", nullptr},
        {"hint", nullptr},
    };
  }
  void line(std::string_view dir, std::string_view text) override {
    j_["dialogue"].push_back({{"dir", std::string(dir)}, {"text", std::string(text)}});
  }
  void attempt(const attempt_report& a) override { attempts_.push_back(attempt_json(a)); }
  void outcome(const fallback_report& r) override {
    j_["fallback"] = {
        {"attempts", attempts_},
        {"winner", r.winner ? json(*r.winner + 1) : json(nullptr)},
        {"fell_back", r.fell_back()},
        {"was_pinned", r.was_pinned},
        {"error", error_of(r.error)},
        {"why", r.why},
        {"text", r.to_string()},
    };
  }
  void tls_up(const session_info& s, const cert_check& c) override {
    j_["tls"] = facts(s);
    j_["certificate"] = {{"verified", c.verified}, {"server_name", c.server_name},
                         {"trust", c.verified ? json(c.trust) : json(nullptr)}};
  }
  void without_tls(std::error_code why) override { j_["without_tls"] = {{"reason", error_of(why)}}; }
  void capabilities(const std::vector<std::string>& caps) override { j_["capabilities"] = caps; }
  void delivered(const delivery_report& d) override {
    j_["message"] = {
        {"from", d.message->from},
        {"to", d.message->to},
        {"bytes", d.message->data.size()},
        {"accepted", d.accepted},
        {"code", d.code},
        {"reply", d.reply},
        {"per_recipient", d.per_recipient},
    };
  }
  void failure(const failure_report& f) override {
    // The first failure is the one that decided the exit status.
    if (!j_["error"].is_null()) return;
    j_["error"] = failure_json(f);
    j_["hint"] = or_null(f.hint);
  }
  void finish(int status) override {
    j_["exit_status"] = status;
    j_["ok"] = status == exit_ok;
    emit(j_);
  }

 private:
  json j_;
  json attempts_ = json::array();
};

class json_serve final : public serve_output {
 public:
  void listening(const serve_plan& p, std::uint16_t port) override {
    emit({{"event", "listening"}, {"address", p.listen}, {"port", port}, {"backend", std::string(p.library->name())},
          {"profile", std::string(to_string(p.security))}, {"tls", std::string(p.tls_mode())},
          {"require_tls", p.require_tls}, {"max_connections", p.max_connections}});
  }
  void session_start(std::uint64_t id, std::string_view address, std::uint16_t port) override {
    emit({{"event", "session_start"}, {"session", id}, {"address", std::string(address)}, {"port", port}});
  }
  void line(std::uint64_t id, std::string_view dir, std::string_view text) override {
    emit({{"event", "line"}, {"session", id}, {"dir", std::string(dir)}, {"text", std::string(text)}});
  }
  void message(std::uint64_t id, const smtp::message& m) override {
    emit({{"event", "message"}, {"session", id}, {"from", m.from}, {"to", m.to}, {"bytes", m.data.size()},
          {"data", m.data}, {"over_tls", m.over_tls}, {"helo", m.helo},
          {"tls", m.over_tls ? facts(m.session) : json(nullptr)}});
  }
  void session_end(std::uint64_t id, const result<>& why) override {
    emit({{"event", "session_end"}, {"session", id}, {"ok", why.ok()}, {"error", error_of(why.error())}});
  }
  void refused(std::size_t so_far, std::size_t limit) override {
    emit({{"event", "refused"}, {"reason", "too many connections"}, {"refused", so_far}, {"limit", limit}});
  }
  void failure(const failure_report& f) override {
    emit({{"event", "error"}, {"error", failure_json(f)}, {"hint", or_null(f.hint)}, {"exit_status", f.exit_status}});
  }
  void stopped(const event_server_stats& s, std::string_view why) override {
    emit({{"event", "stopped"}, {"why", std::string(why)},
          {"stats", {{"accepted", s.accepted}, {"completed", s.completed}, {"failed", s.failed},
                     {"refused_busy", s.refused_busy}, {"peak", s.peak}, {"active", s.active}}}});
  }
};

}  // namespace

std::unique_ptr<probe_output> make_json_probe_output() { return std::make_unique<json_probe>(); }
std::unique_ptr<serve_output> make_json_serve_output() { return std::make_unique<json_serve>(); }

void print_backends_json() {
  json list = json::array();
  bool first = true;
  for (const backend* b : backends()) {
    const capabilities& c = b->caps();
    list.push_back({
        {"name", std::string(b->name())},
        {"version", std::string(b->library_version())},
        {"default", first},
        {"capabilities",
         {{"tls13", c.tls13}, {"rsa_key_exchange", c.rsa_key_exchange}, {"ip_address_names", c.ip_address_names},
          {"alpn", c.alpn}, {"resumption", c.resumption}, {"client_certificates", c.client_certificates},
          {"system_trust", c.system_trust}, {"release_buffers", c.release_buffers}, {"chacha20", c.chacha20}}},
    });
    first = false;
  }
  emit({{"backends", list}});
}

}  // namespace uptls::cli
