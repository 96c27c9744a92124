// The driver's command line, shared by every implementation:
//   --case NAME  handshake-tls13-rsa | handshake-tls13-ecdsa | handshake-tls12-ecdhe-rsa |
//                handshake-tls12-rsa-kx | resume-tls13 | resume-tls12 | bulk | starttls | idle-heap
//   --transport unix|tcp   --certs DIR   --seconds S   --min-count N   --bytes N   --write N
//   --count N   --cipher aes128gcm|aes256gcm|chacha20   --version 1.2|1.3   --leaf NAME
//   --release-buffers   --smtp-library   --timeout S   --backend NAME   --info
// It prints one JSON object on stdout.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cases.hpp"

namespace bench {
namespace {

char timeout_message[512];
json* run_header = nullptr;  // impl, library, case: what abort_run reports

extern "C" void on_alarm(int) {
  // A run that stops making progress ends here rather than hanging its caller.
  (void)!::write(STDOUT_FILENO, timeout_message, std::strlen(timeout_message));
  ::_exit(1);
}

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::size_t parse_size(const std::string& s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  std::size_t mult = 1;
  if (end != nullptr && *end != '\0') {
    const std::string unit(end);
    if (unit == "K" || unit == "KiB") mult = std::size_t{1} << 10;
    else if (unit == "M" || unit == "MiB") mult = std::size_t{1} << 20;
    else if (unit == "G" || unit == "GiB") mult = std::size_t{1} << 30;
    else throw usage_error("bad size '" + s + "' (a number with K, M or G)");
  }
  return static_cast<std::size_t>(v) * mult;
}

void apply_case(options& o) {
  setup& t = o.tls;
  const std::string& c = o.case_name;
  const auto v13 = [&] { if (!t.version) t.version = tls_ver::tls13; };
  const auto v12 = [&] { if (!t.version) t.version = tls_ver::tls12; };
  if (c == "handshake-tls13-rsa") v13();
  else if (c == "handshake-tls13-ecdsa") { v13(); t.leaf = "server-ecdsa"; }
  else if (c == "handshake-tls12-ecdhe-rsa") v12();
  else if (c == "handshake-tls12-rsa-kx") { v12(); t.rsa_kx = true; }
  else if (c == "resume-tls13") { v13(); t.resumption = true; }
  else if (c == "resume-tls12") { v12(); t.resumption = true; }
  else if (c != "bulk" && c != "starttls" && c != "idle-heap") throw usage_error("unknown case '" + c + "'");
}

options parse(int argc, char** argv, bool& info, std::string& backend) {
  options o;
  std::string leaf;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--case") o.case_name = value();
    else if (a == "--transport") o.transport = value();
    else if (a == "--certs") o.tls.certs = value();
    else if (a == "--seconds") o.seconds = std::atof(value().c_str());
    else if (a == "--min-count") o.min_count = parse_size(value());
    else if (a == "--bytes") o.bytes = parse_size(value());
    else if (a == "--write") o.write = parse_size(value());
    else if (a == "--count") o.count = parse_size(value());
    else if (a == "--leaf") leaf = value();
    else if (a == "--release-buffers") o.tls.release_buffers = true;
    else if (a == "--smtp-library") o.tls.smtp_library = true;
    else if (a == "--info") info = true;
    else if (a == "--backend") backend = value();
    else if (a == "--timeout") (void)value();  // read in main
    else if (a == "--cipher") {
      const std::string v = value();
      o.tls.cipher = parse_cipher(v);
      if (!o.tls.cipher) throw usage_error("unknown cipher '" + v + "'");
    } else if (a == "--version") {
      const std::string v = value();
      if (v == "1.2") o.tls.version = tls_ver::tls12;
      else if (v == "1.3") o.tls.version = tls_ver::tls13;
      else throw usage_error("--version is 1.2 or 1.3");
    } else {
      throw usage_error("unknown argument '" + a + "'");
    }
  }
  if (info) return o;
  if (o.case_name.empty()) throw usage_error("--case is required");
  if (o.tls.certs.empty()) throw usage_error("--certs is required");
  apply_case(o);
  if (!leaf.empty()) o.tls.leaf = leaf;
  return o;
}

int timeout_from(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--timeout") == 0) return std::atoi(argv[i + 1]);
  }
  return 300;
}

}  // namespace

void abort_run(const std::string& error) {
  json out = run_header != nullptr ? *run_header : json{};
  out.set("ok", false).set("error", error);
  std::cout << out.text() << std::endl;
  std::_Exit(1);
}

int main(int argc, char** argv, implementation& impl) {
  ::signal(SIGPIPE, SIG_IGN);
  json result;
  result.set("impl", impl.name()).set("library", impl.library());
  bool info = false;
  std::string backend;
  options o;
  try {
    o = parse(argc, argv, info, backend);
  } catch (const usage_error& e) {
    std::cerr << argv[0] << ": " << e.what() << "\n";
    return 2;
  }
  if (!backend.empty()) {
    try {
      impl.select(backend);
    } catch (const unsupported& e) {
      result.set("ok", false).set("skipped", true).set("reason", e.what());
      std::cout << result.text() << std::endl;
      return 0;
    }
    result.set("library", impl.library());
  }
  result.set("library_version", impl.library_version());
  if (info) {
    impl.describe(result);
    std::cout << result.text() << std::endl;
    return 0;
  }
  result.set("case", o.case_name).set("transport", o.transport);
  json header = result;
  run_header = &header;
  {
    json timed_out = result;
    timed_out.set("ok", false).set("error", "timed out");
    std::snprintf(timeout_message, sizeof timeout_message, "%s\n", timed_out.text().c_str());
    ::signal(SIGALRM, on_alarm);
    ::alarm(static_cast<unsigned>(timeout_from(argc, argv)));
  }
  try {
    if (o.case_name.rfind("handshake-", 0) == 0 || o.case_name.rfind("resume-", 0) == 0) run_handshakes(impl, o, result);
    else if (o.case_name == "bulk") run_bulk(impl, o, result);
    else if (o.case_name == "starttls") run_starttls(impl, o, result);
    else run_idle_heap(impl, o, result);
    result.set("ok", true);
  } catch (const unsupported& e) {
    result.set("ok", false).set("skipped", true).set("reason", e.what());
    std::cout << result.text() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    result.set("ok", false).set("error", e.what());
    std::cout << result.text() << std::endl;
    return 1;
  }
  std::cout << result.text() << std::endl;
  return 0;
}

}  // namespace bench
