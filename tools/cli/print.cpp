#include "print.hpp"

#include <cstdio>
#include <mutex>

namespace uptls::cli {
namespace {

// The server prints from its own thread; lines must not interleave.
std::mutex out_mutex;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "(none)" : out;
}

const char* or_none(const std::string& s) { return s.empty() ? "(none)" : s.c_str(); }

}  // namespace

smtp::trace_fn print_trace(std::string prefix) {
  return [prefix = std::move(prefix)](std::string_view dir, std::string_view line) {
    std::lock_guard lock(out_mutex);
    std::printf("%s%.*s: %.*s\n", prefix.c_str(), static_cast<int>(dir.size()), dir.data(),
                static_cast<int>(line.size()), line.data());
    std::fflush(stdout);
  };
}

void print_session(const session_info& s) {
  std::lock_guard lock(out_mutex);
  std::printf("backend:          %s\n", s.backend.c_str());
  std::printf("version:          %s\n", std::string(to_string(s.version)).c_str());
  std::printf("cipher:           %s\n", s.cipher.c_str());
  std::printf("key exchange:     %s\n", s.key_exchange.c_str());
  std::printf("group:            %s\n", or_none(s.group));
  std::printf("forward secrecy:  %s\n", s.forward_secret ? "yes" : "no");
  std::printf("resumed:          %s\n", s.resumed ? "yes" : "no");
  std::printf("verified:         %s\n", s.verified ? "yes" : "NO (verification was skipped)");
  std::printf("peer subject:     %s\n", or_none(s.peer_subject));
  std::printf("peer names:       %s\n", join(s.peer_names).c_str());
  std::printf("SNI:              %s\n", or_none(s.sni));
  std::printf("ALPN:             %s\n", or_none(s.alpn));
  std::fflush(stdout);
}

// Errors and hints go to standard error, so that a script can keep the dialogue
// and the negotiated facts (standard output) apart from what went wrong.
void print_failure(std::error_code ec, const failure_info* detail) {
  std::lock_guard lock(out_mutex);
  std::fflush(stdout);
  const std::string name = ec.category() == category() ? std::string(to_string(static_cast<errc>(ec.value())))
                                                       : std::string(ec.category().name()) + ":" + std::to_string(ec.value());
  std::fprintf(stderr, "error:            %s (%s)\n", name.c_str(), ec.message().c_str());
  if (detail == nullptr) return;
  if (detail->library) {
    std::fprintf(stderr, "library:          %s %d: %s\n", detail->library.category().name(), detail->library.value(),
                detail->text.c_str());
  } else if (!detail->text.empty()) {
    std::fprintf(stderr, "library:          %s\n", detail->text.c_str());
  }
  if (detail->alert_received >= 0) std::fprintf(stderr, "alert received:   %d\n", detail->alert_received);
  if (detail->alert_sent >= 0) std::fprintf(stderr, "alert sent:       %d\n", detail->alert_sent);
  std::fflush(stderr);
}

void print_hint(std::string_view text) {
  std::lock_guard lock(out_mutex);
  std::fprintf(stderr, "hint: %.*s\n", static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

}  // namespace uptls::cli
