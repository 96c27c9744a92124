// The text output: the dialogue and the negotiated facts on standard output as
// they happen (like openssl s_client), errors, warnings and hints on standard
// error, so that a script can keep what happened apart from what went wrong.
#include <algorithm>
#include <cstdio>

#include "output.hpp"

namespace uptls::cli {
namespace {

std::string join(const std::vector<std::string>& items, const char* none = "(none)") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? none : out;
}

const char* or_none(const std::string& s) { return s.empty() ? "(none)" : s.c_str(); }

void out(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

// Standard output first, so that a terminal showing both keeps the order.
void err(const std::string& text) {
  std::fflush(stdout);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

std::string field(const char* name, const std::string& value) {
  std::string line = std::string(name) + ":";
  line.resize(std::max<std::size_t>(line.size() + 1, 18), ' ');
  return line + value + "\n";
}

std::string describe(const session_info& s) {
  return std::string(to_string(s.version)) + " " + s.suite.name + (s.sni.empty() ? "" : ", SNI " + s.sni);
}

void print_failure(const failure_report& f) {
  std::string text = field("error", f.name + " (" + f.text + ")");
  if (f.code) text += field("stage", std::string(to_string(f.where)));
  if (const failure_info* d = f.detail) {
    if (d->library) {
      text += field("library", std::string(d->library.category().name()) + " " + std::to_string(d->library.value()) +
                                   ": " + d->text);
    } else if (!d->text.empty()) {
      text += field("library", d->text);
    }
    if (d->alert_received >= 0) text += field("alert received", std::to_string(d->alert_received));
    if (d->alert_sent >= 0) text += field("alert sent", std::to_string(d->alert_sent));
    if (d->eof_before_server_hello) text += field("wire", "the server closed before sending any handshake record");
  }
  if (!f.hint.empty()) text += "hint: " + f.hint + "\n";
  err(text);
}

class text_probe final : public probe_output {
 public:
  void start(const probe_plan& p) override {
    if (p.proto->run == nullptr) return;  // nothing will be tried
    std::string text = std::string("*: ") + (p.implicit() ? "implicit TLS to " : "STARTTLS to ") + p.host + " port " +
                       std::to_string(p.port) + " (" + std::string(p.proto->protocol) + ") with ";
    text += p.laddered() ? "the ladder " + ladder_text(p.ladder) + (p.eof_is_trigger ? " (EOF is a trigger)" : "")
                         : std::string(p.library->name()) + ", profile " + std::string(to_string(p.security));
    text += p.tls.dangerous_skip_verification ? "; certificate NOT checked (--dangerous-skip-verification)"
                                              : "; the certificate must be for " + p.server_name + ", trusted: " + p.trust;
    out(text + "\n");
  }
  void line(std::string_view dir, std::string_view text) override {
    out(std::string(dir) + ": " + std::string(text) + "\n");
  }
  void attempt(const attempt_report& a) override { out("*: " + a.to_string() + "\n"); }
  void outcome(const fallback_report& r) override {
    const std::string all = r.to_string();
    const std::size_t last = all.rfind('\n');
    out("*: " + (last == std::string::npos ? all : all.substr(last + 1)) + "\n");
  }
  void tls_up(const session_info& s, const cert_check& c) override {
    std::string text = "\n";
    text += field("backend", s.backend);
    text += field("version", std::string(to_string(s.version)));
    char id[8];
    std::snprintf(id, sizeof id, "0x%04X", s.suite.id);
    text += field("cipher", s.suite.name + " (" + id + (s.suite.aead ? ", AEAD)" : ", CBC)"));
    text += field("key exchange", std::string(to_string(s.kx)));
    text += field("group", s.group == named_group::none ? "(none)" : std::string(to_string(s.group)));
    text += field("forward secrecy", s.forward_secret ? "yes" : "no");
    text += field("resumed", s.resumed ? "yes" : "no");
    text += field("verified", s.verified ? "yes" : "NO (verification was skipped)");
    const certificate_info* peer = s.peer_certificate();
    text += field("peer subject", peer != nullptr ? or_none(peer->subject) : "(none)");
    if (peer != nullptr) {
      std::vector<std::string> names = peer->dns_names;
      names.insert(names.end(), peer->ip_addresses.begin(), peer->ip_addresses.end());
      text += field("peer names", join(names));
      text += field("peer issuer", or_none(peer->issuer));
      text += field("peer key", std::string(to_string(peer->key)) + " " + std::to_string(peer->key_bits) + " bits");
      text += field("peer SHA-256", peer->sha256);
    }
    text += field("SNI", or_none(s.sni));
    text += field("ALPN", or_none(s.alpn));
    text += field("certificate", c.verified ? "verified for " + c.server_name + " (trusted: " + c.trust + ")"
                                            : "NOT checked (--dangerous-skip-verification)");
    out(text);
  }
  void without_tls(std::error_code why) override {
    out("\n" + field("TLS", "NONE: " + why.message() + "; the session went on WITHOUT TLS (--opportunistic)"));
    err("warning: the session went on WITHOUT TLS: " + why.message() + "\n");
  }
  void capabilities(const std::vector<std::string>& caps) override {
    out(field("capabilities", join(caps)) + "\n");
  }
  void delivered(const delivery_report& d) override {
    const std::string reply = std::to_string(d.code) + (d.reply.empty() ? "" : " " + d.reply);
    out(std::string("*: message ") + (d.accepted ? "accepted: " : "refused: ") + reply + "\n");
  }
  void failure(const failure_report& f) override { print_failure(f); }
  void finish(int) override { std::fflush(stdout); }
};

std::string prefix(std::uint64_t id) { return "[" + std::to_string(id) + "] "; }

class text_serve final : public serve_output {
 public:
  void listening(const serve_plan& p, std::uint16_t port) override {
    out("*: listening on " + p.listen + " port " + std::to_string(port) + " (" + std::string(p.library->name()) +
        ", " + std::string(p.tls_mode()) + ")\n");
  }
  void session_start(std::uint64_t id, std::string_view address, std::uint16_t port) override {
    out(prefix(id) + "*: session from " + std::string(address) + " port " + std::to_string(port) + "\n");
  }
  void line(std::uint64_t id, std::string_view dir, std::string_view text) override {
    out(prefix(id) + std::string(dir) + ": " + std::string(text) + "\n");
  }
  void message(std::uint64_t id, const smtp::message& m) override {
    std::string to;
    for (const auto& r : m.to) to += (to.empty() ? "<" : ", <") + r + ">";
    std::string text = prefix(id) + "*: message from <" + m.from + "> to " + to + ", " + std::to_string(m.data.size()) +
                       " bytes, over TLS: " + (m.over_tls ? "yes (" + describe(m.session) + ")" : "NO") + "\n";
    std::string_view data = m.data;
    while (!data.empty()) {
      const std::size_t eol = data.find("\r\n");
      text += prefix(id) + "| " + std::string(data.substr(0, eol)) + "\n";
      if (eol == std::string_view::npos) break;
      data.remove_prefix(eol + 2);
    }
    out(text);
  }
  void session_end(std::uint64_t id, const result<>& why) override {
    out(prefix(id) + (why.ok() ? std::string("*: session ended with QUIT")
                               : "*: session ended: " + error_name(why.error()) + " (" + why.error().message() + ")") +
        "\n");
  }
  void refused(std::size_t so_far, std::size_t limit) override {
    out("*: refused a connection: too many connections (limit " + std::to_string(limit) + "; " +
        std::to_string(so_far) + " refused so far)\n");
  }
  void failure(const failure_report& f) override { print_failure(f); }
  void stopped(const event_server_stats& s, std::string_view why) override {
    out("*: stopped (" + std::string(why) + "): " + std::to_string(s.accepted) + " sessions, " +
        std::to_string(s.completed) + " ended with QUIT, " + std::to_string(s.failed) + " failed, " +
        std::to_string(s.refused_busy) + " refused as busy, at most " + std::to_string(s.peak) + " at once\n");
  }
};

}  // namespace

std::unique_ptr<probe_output> make_text_probe_output() { return std::make_unique<text_probe>(); }
std::unique_ptr<serve_output> make_text_serve_output() { return std::make_unique<text_serve>(); }

void print_backends_text() {
  bool first = true;
  std::string text;
  for (const backend* b : backends()) {
    const capabilities& c = b->caps();
    std::string caps;
    const auto add = [&](bool on, const char* name) {
      if (on) caps += (caps.empty() ? "" : " ") + std::string(name);
    };
    add(c.tls13, "tls1.3");
    add(c.rsa_key_exchange, "rsa-key-exchange");
    add(c.ip_address_names, "ip-address-names");
    add(c.alpn, "alpn");
    add(c.resumption, "resumption");
    add(c.client_certificates, "client-certificates");
    add(c.system_trust, "system-trust");
    add(c.release_buffers, "release-buffers");
    add(c.chacha20, "chacha20");
    std::string name(b->name());
    name.resize(std::max<std::size_t>(name.size() + 1, 9), ' ');
    text += name + std::string(b->library_version()) + (first ? " (default)" : "") + "\n         " + caps + "\n";
    first = false;
  }
  out(text);
}

}  // namespace uptls::cli
