// uptls: STARTTLS from the command line, over any compiled-in TLS backend.
// This file is the command line only (CLI11): it checks every argument, turns
// them into a plan (plan.hpp), and hands the plan to the command. Every bad
// argument is exit status 2 with a message that names it and what to do.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

#include "exit_code.hpp"
#include "matrix_cmd.hpp"
#include "output.hpp"
#include "plan.hpp"
#include "probe.hpp"
#include "serve.hpp"
#include "url.hpp"
#include "uptls/fallback.hpp"

#ifndef UPTLS_VERSION
#error "UPTLS_VERSION must be the project's version"
#endif

namespace uptls::cli {
namespace {

// A bad argument found after parsing; the text says what is wrong and what to do.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string backend_names() {
  std::string out;
  for (const backend* b : backends()) out += (out.empty() ? "" : ", ") + std::string(b->name());
  return out;
}

const backend* pick_backend(const std::string& name, const std::string& option) {
  if (name.empty()) return backends().front();
  if (const backend* b = find_backend(name)) return b;
  throw usage_error(option + ": no backend '" + name + "' in this build; compiled in: " + backend_names());
}

profile pick_profile(const std::string& name, const std::string& option) {
  if (name == "strict") return profile::strict;
  if (name == "legacy") return profile::legacy;
  throw usage_error(option + " is strict or legacy, not '" + name + "'");
}

std::chrono::milliseconds pick_timeout(double seconds) {
  if (!(seconds > 0 && seconds <= 86400)) {
    char text[64];
    std::snprintf(text, sizeof text, "%g", seconds);
    throw usage_error(std::string("--timeout takes seconds, more than 0 and at most 86400, not ") + text);
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000 + 0.5));
}

// A PEM file the user named: it must be there and readable now, so that the
// error names the path instead of a TLS library's words about it later.
void check_file(const std::string& path, const std::string& option, const std::string& what) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw usage_error(option + ": no such file: " + path + " (" + what + ")");
  if (std::filesystem::is_directory(st)) throw usage_error(option + ": " + path + " is a directory, not a PEM file");
  if (::access(path.c_str(), R_OK) != 0) throw usage_error(option + ": cannot read " + path);
}

// --ladder mbedtls:strict,openssl:legacy
std::vector<rung> parse_ladder(const std::string& text) {
  std::vector<rung> ladder;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const std::size_t colon = item.find(':');
    if (item.empty() || colon == std::string::npos) {
      throw usage_error("--ladder: each rung is BACKEND:PROFILE, e.g. --ladder openssl:strict,openssl:legacy; '" +
                        item + "' is not");
    }
    ladder.push_back({pick_backend(item.substr(0, colon), "--ladder"),
                      pick_profile(item.substr(colon + 1), "--ladder: the profile of '" + item + "'")});
    pos = comma + 1;
  }
  if (check_ladder(ladder)) return ladder;
  // The library's own words for why: a connector refuses a bad ladder before it
  // dials anything, and its report says what is wrong.
  fallback_request probe;
  probe.host = "ladder.invalid";
  probe.port = 1;
  probe.ladder = ladder;
  fallback_connector check(std::move(probe));
  (void)check.resume();
  std::string why = check.report().why;
  if (why.rfind("refused before dialling: ", 0) == 0) why.erase(0, 25);
  throw usage_error("--ladder " + text + ": " + why + " (a ladder is at most strict, then legacy)");
}

struct probe_args {
  std::string url, backend, profile, ladder, cafile, servername, cert, key, ehlo = "localhost";
  double timeout = 30;
  bool eof_is_trigger = false, opportunistic = false, json = false, skip_verification = false;
  std::vector<std::string> send;
};

probe_plan make_probe_plan(const probe_args& a) {
  probe_plan p;
  p.url = a.url;
  std::string why;
  const std::optional<url> u = parse_url(a.url, &why);
  if (!u) throw usage_error("bad URL: " + why);
  p.proto = find_scheme(u->scheme);
  if (p.proto == nullptr) {
    throw usage_error("unknown scheme '" + u->scheme + "://'; uptls speaks " + scheme_names(true) +
                      " (and knows " + scheme_names(false) + ", not supported yet)");
  }
  p.host = u->host;
  p.port = u->port.value_or(p.proto->default_port);

  p.timeout = pick_timeout(a.timeout);
  if (!a.ladder.empty()) {
    if (!a.backend.empty() || !a.profile.empty()) {
      throw usage_error("--ladder names the backend and the profile of each rung; leave out --backend and --profile");
    }
    p.ladder = parse_ladder(a.ladder);
  } else {
    p.library = pick_backend(a.backend, "--backend");
    p.security = pick_profile(a.profile.empty() ? "strict" : a.profile, "--profile");
  }
  if (a.eof_is_trigger && a.ladder.empty()) {
    throw usage_error("--eof-is-trigger is a rule of the fallback ladder; it needs --ladder "
                      "(e.g. --ladder openssl:strict,openssl:legacy --eof-is-trigger)");
  }
  p.eof_is_trigger = a.eof_is_trigger;
  if (a.opportunistic && p.implicit()) {
    throw usage_error("--opportunistic lets STARTTLS be skipped; " + std::string(p.proto->name) +
                      ":// is implicit TLS, which is never optional");
  }
  if (a.opportunistic && p.laddered()) {
    throw usage_error("--opportunistic cannot go with --ladder: the ladder never goes on without TLS");
  }
  p.opportunistic = a.opportunistic;

  if (!a.cafile.empty()) check_file(a.cafile, "--cafile", "give a PEM file of CA certificates, or leave --cafile out for the system store");
  if (a.cert.empty() != a.key.empty()) throw usage_error("--cert and --key go together (a certificate and its key)");
  if (!a.cert.empty()) {
    check_file(a.cert, "--cert", "the client certificate chain, PEM");
    check_file(a.key, "--key", "the client certificate's private key, PEM");
  }
  p.tls.ca_file = a.cafile;
  p.tls.system_trust = a.cafile.empty();
  p.trust = a.cafile.empty() ? "the system store" : a.cafile;
  p.tls.cert_file = a.cert;
  p.tls.key_file = a.key;
  p.tls.handshake_timeout = p.timeout;
  p.tls.dangerous_skip_verification = a.skip_verification;
  p.server_name = a.servername.empty() ? p.host : a.servername;
  // What the SMTP client would refuse after connecting is refused here, before.
  if (a.ehlo.empty() || a.ehlo.size() > 255 ||
      std::any_of(a.ehlo.begin(), a.ehlo.end(), [](char c) { return c <= ' ' || c >= 0x7f; })) {
    throw usage_error("--ehlo takes a host name (printable ASCII, no spaces), not '" + a.ehlo + "'");
  }
  p.ehlo = a.ehlo;
  p.json = a.json;

  if (!a.send.empty()) {
    if (!p.proto->sends_mail) throw usage_error("--send is for the mail schemes (SMTP, LMTP)");
    const auto bad_address = [](const std::string& addr) {
      return addr.size() > 256 || std::any_of(addr.begin(), addr.end(), [](char c) {
               const auto u = static_cast<unsigned char>(c);
               return u < 0x20 || u == 0x7f || c == '<' || c == '>';
             });
    };
    if (a.send[1].empty()) throw usage_error("--send FROM TO: TO must not be empty");
    for (const std::string& addr : a.send) {
      if (bad_address(addr)) {
        throw usage_error("--send: '" + addr + "' is not a mail address (no <, >, control characters; at most 256)");
      }
    }
    p.send = outgoing_message{a.send[0], {a.send[1]}, {}};
  }
  return p;
}

struct serve_args {
  std::string proto, listen = "127.0.0.1", backend, profile = "strict", cert, key;
  int port = 0;
  std::size_t max_connections = 1024;
  double timeout = 300;
  bool require_tls = false, implicit = false, once = false, json = false;
};

serve_plan make_serve_plan(const serve_args& a) {
  serve_plan p;
  p.proto = find_serve_protocol(a.proto);
  if (p.proto == nullptr) {
    throw usage_error("unknown protocol '" + a.proto + "'; uptls serves " + serve_protocol_names(true) + " (and " +
                      serve_protocol_names(false) + " later)");
  }
  p.listen = a.listen;
  if (a.port < 0 || a.port > 65535) {
    throw usage_error("--port takes 0 to 65535 (0: any free port), not " + std::to_string(a.port));
  }
  p.port = static_cast<std::uint16_t>(a.port);
  p.library = pick_backend(a.backend, "--backend");
  p.security = pick_profile(a.profile, "--profile");
  if (a.cert.empty() != a.key.empty()) throw usage_error("--cert and --key go together (a certificate and its key)");
  if ((a.require_tls || a.implicit) && a.cert.empty()) {
    throw usage_error(std::string(a.implicit ? "--implicit" : "--require-tls") +
                      " needs TLS: give --cert FILE --key FILE");
  }
  if (!a.cert.empty()) {
    check_file(a.cert, "--cert", "the server's certificate chain, PEM");
    check_file(a.key, "--key", "the server's private key, PEM");
  }
  p.cert_file = a.cert;
  p.key_file = a.key;
  p.require_tls = a.require_tls;
  p.implicit = a.implicit;
  if (a.max_connections == 0) throw usage_error("--max-connections must be at least 1");
  p.max_connections = a.max_connections;
  p.timeout = pick_timeout(a.timeout);
  p.once = a.once;
  p.json = a.json;
  return p;
}

std::string probe_footer() {
  std::string schemes_text;
  for (const scheme& s : schemes()) {
    std::string name = "  " + std::string(s.name) + "://";
    name.resize(16, ' ');
    schemes_text += name + "port " + std::to_string(s.default_port) +
                    (s.start == tls_start::implicit ? ", implicit TLS" : ", STARTTLS") + ", " + std::string(s.protocol) +
                    (s.run == nullptr ? " (not supported yet: exit status 5)" : "") + "\n";
  }
  return "\nSchemes (URL: SCHEME://HOST[:PORT]):\n" + schemes_text +
         "\nThe ladder (--ladder): each rung is BACKEND:PROFILE, strict first. The next rung runs, on a\n"
         "fresh connection with the plaintext dialogue replayed, only when the server refused the\n"
         "strict profile as a policy mismatch (alert 40 or 71) before its first handshake message;\n"
         "never for certificate errors, never into plaintext. --eof-is-trigger adds a hang-up at that\n"
         "point: some servers (Python's asyncio) do that instead of an alert, and so can an attacker.\n"
         "Every attempt is reported.\n" +
         "\nThe dialogue (C: client, S: server, *: uptls) and the negotiated facts go to standard\n"
         "output; errors, warnings and hints go to standard error. With --json, one JSON object on\n"
         "standard output holds all of it (bad usage, exit status 2, is still text on standard error).\n\n" +
         exit_codes_help +
         "\nExamples:\n"
         "  uptls probe submission://mail.example.org\n"
         "  uptls probe smtp://127.0.0.1:2525 --cafile ca.pem --servername localhost --send a@x.org b@y.org < msg\n"
         "  uptls probe smtp://old.example.org --ladder openssl:strict,openssl:legacy --json\n";
}

int usage_failure(const std::string& command, const std::string& what) {
  std::cerr << "uptls" << (command.empty() ? "" : " " + command) << ": " << what << "\n"
            << "Run 'uptls" << (command.empty() ? "" : " " + command) << " --help' for the options.\n";
  return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"uptls: STARTTLS and implicit TLS from the command line, over the TLS backend you choose "
               "(compiled in: " + backend_names() + ")",
               "uptls"};
  app.set_version_flag("--version", "uptls " UPTLS_VERSION);
  app.require_subcommand(1);
  app.get_formatter()->column_width(34);
  app.footer(std::string("\nRun 'uptls COMMAND --help' for the options of each command.\n\n") + exit_codes_help);

  probe_args pa;
  CLI::App* probe = app.add_subcommand(
      "probe", "Connect to a server, start TLS (STARTTLS or implicit), show the dialogue and what was negotiated");
  probe->add_option("URL", pa.url, "smtp://HOST[:PORT], submission://, smtps://, lmtp://, imap://, imaps://, pop3://, pop3s:// or sieve:// (see Schemes)")
      ->required()
      ->type_name("");
  probe->add_option("--backend", pa.backend, "TLS backend (default: " + std::string(backends().front()->name()) + ")")
      ->type_name("NAME");
  probe->add_option("--profile", pa.profile, "strict (the default: forward secret, AEAD) or legacy (adds RSA)")
      ->type_name("PROFILE");
  probe->add_option("--ladder", pa.ladder,
                    "fallback ladder, e.g. mbedtls:strict,openssl:legacy (see below)")
      ->type_name("RUNGS");
  probe->add_flag("--eof-is-trigger", pa.eof_is_trigger,
                  "with --ladder: a hang-up before the server's first handshake\n"
                  "message also climbs down (see below)");
  probe->add_option("--cafile", pa.cafile, "trusted CA certificates (PEM); default: the system store")->type_name("FILE");
  probe->add_option("--servername", pa.servername, "name for SNI and the certificate (default: the URL's host)")
      ->type_name("NAME");
  probe->add_option("--cert", pa.cert, "client certificate chain (PEM), with --key")->type_name("FILE");
  probe->add_option("--key", pa.key, "the client certificate's private key (PEM)")->type_name("FILE");
  probe->add_option("--timeout", pa.timeout, "bound on the connect, each reply and the handshake (default 30)")
      ->type_name("SECONDS");
  probe->add_flag("--opportunistic", pa.opportunistic,
                  "go on WITHOUT TLS when STARTTLS is not offered or refused");
  probe->add_option("--ehlo", pa.ehlo, "name to give in EHLO / LHLO (default localhost)")->type_name("NAME");
  probe->add_option("--send", pa.send, "send standard input as a message (SMTP, LMTP)")
      ->expected(2)
      ->option_text("FROM TO");
  probe->add_flag("--json", pa.json, "one JSON object on standard output, errors and hints inside");
  probe->add_flag("--dangerous-skip-verification", pa.skip_verification,
                  "accept any certificate for any name (tests only)");
  probe->footer(probe_footer());

  serve_args sa;
  CLI::App* serve = app.add_subcommand("serve", "Run a server that prints each session, dialogue line and message");
  serve->add_option("PROTO", sa.proto, "smtp or lmtp: a mail sink that prints each message; imap or pop3: a one-message mailbox that takes every login; sieve: ManageSieve over an in-memory script store")->required()->type_name("");
  serve->add_option("--listen", sa.listen, "address to listen on (default 127.0.0.1)")->type_name("ADDR");
  serve->add_option("--port", sa.port, "port (default 0: any free port, printed when listening)")
      ->type_name("N");
  serve->add_option("--backend", sa.backend, "TLS backend (default: " + std::string(backends().front()->name()) + ")")
      ->type_name("NAME");
  serve->add_option("--profile", sa.profile, "strict (the default) or legacy")->type_name("PROFILE");
  serve->add_option("--cert", sa.cert, "certificate chain (PEM); without it no TLS is offered")
      ->type_name("FILE");
  serve->add_option("--key", sa.key, "its private key (PEM)")->type_name("FILE");
  serve->add_flag("--require-tls", sa.require_tls, "refuse MAIL before STARTTLS (530)");
  serve->add_flag("--implicit", sa.implicit, "implicit TLS from the first byte (port 465 style), no STARTTLS");
  serve->add_option("--max-connections", sa.max_connections,
                    "sessions at once; one more is told 421 busy (default 1024)")
      ->type_name("N");
  serve->add_option("--timeout", sa.timeout, "bound on each command, message and handshake (default 300)")
      ->type_name("SECONDS");
  serve->add_flag("--once", sa.once, "exit after the first session, with its status");
  serve->add_flag("--json", sa.json, "one JSON object per line and event, instead of text");
  serve->footer(std::string("\nThe server runs on one thread (an epoll loop): many clients at once, and a slow or\n"
                            "silent one stalls nobody. It prints '*: listening on ADDR port N (BACKEND, STARTTLS|\n"
                            "implicit TLS|no TLS)' once ready, then '[ID] ...' lines for each session. SIGINT or\n"
                            "SIGTERM stop it (exit status 0).\n\n") +
                exit_codes_help);

  bool backends_json = false;
  CLI::App* list = app.add_subcommand("backends", "List the compiled-in TLS backends, their versions and capabilities");
  list->add_flag("--json", backends_json, "one JSON object instead of text");
  list->footer("\nThe first one listed is the default.\n");

  matrix_args ma;
  ma.expect = UPTLS_MATRIX_DATA;
  ma.certs = UPTLS_MATRIX_CERTS;
  CLI::App* mx = app.add_subcommand(
      "matrix", "Run the compatibility matrix on loopback and compare every cell with its reviewed expectation");
  mx->add_option("--expect", ma.expect, "the data file of expectations (default " UPTLS_MATRIX_DATA ")")->type_name("FILE");
  mx->add_option("--certs", ma.certs, "folder of the test certificates (default " UPTLS_MATRIX_CERTS ")")->type_name("DIR");
  mx->add_option("--json", ma.json, "write every cell as JSON to FILE")->type_name("FILE");
  mx->add_option("--html", ma.html, "write a self-contained HTML page of the grid to FILE")->type_name("FILE");
  mx->add_option("--only", ma.only, "run only the cells whose KEY is one of the VALUEs (repeatable), e.g.\n"
                                    "--only client=openssl,gnutls --only mode=starttls")
      ->type_name("KEY=VALUE,...");
  mx->add_option("--jobs", ma.jobs, "cells run at once (default 8)")->type_name("N")->check(CLI::Range(1, 64));
  mx->add_option("--timeout", ma.timeout, "bound on each cell (default 10)")->type_name("SECONDS")->check(CLI::Range(0.1, 600.0));
  mx->add_flag("--list", ma.list, "print every cell with its expectation and the rule that gave it; run nothing");
  mx->add_flag("--quiet", ma.quiet, "print only the summary line (and the cells not as expected)");
  mx->footer("\nThe dimensions: protocol, mode (starttls, implicit), client (a uptls backend or a real\n"
             "client), client_profile (strict, legacy, ladder, ladder-eof; default for a real client),\n"
             "server (a uptls backend or a real server), server_config (see the data file). Each cell's\n"
             "expectation is the last rule of the data file that matches it; cells a backend cannot\n"
             "serve are not run and say which capability is missing.\n\n"
             "Exit status: 0 every cell as expected; 1 a cell was not (each is named on standard error);\n"
             "2 bad usage, a bad data file, missing certificates or a missing real peer (named by its Debian package).\n");

  // CLI11 would only say that a command is required.
  const auto known = [&](const char* word) {
    for (const CLI::App* sub : {probe, serve, list, mx}) {
      if (sub->get_name() == word) return true;
    }
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    return usage_failure("", "unknown command '" + std::string(argv[1]) + "'; the commands are probe, serve, backends, matrix");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    const auto parsed = app.get_subcommands();
    return usage_failure(parsed.empty() ? "" : parsed.back()->get_name(), e.what());
  }

  try {
    if (probe->parsed()) {
      probe_plan plan = make_probe_plan(pa);
      if (plan.send) {
        // Read before connecting: a server waits only so long for the data.
        plan.send->data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      }
      return run_probe(plan);
    }
    if (serve->parsed()) return run_serve(make_serve_plan(sa));
    if (mx->parsed()) {
      for (const std::string& f : ma.only) {
        if (const std::string why = check_matrix_filter(f); !why.empty()) throw usage_error(why);
      }
      return run_matrix(ma);
    }
    if (backends_json) print_backends_json();
    else print_backends_text();
    return exit_ok;
  } catch (const usage_error& e) {
    return usage_failure(probe->parsed() ? "probe" : serve->parsed() ? "serve" : mx->parsed() ? "matrix" : "backends",
                         e.what());
  }
}

}  // namespace uptls::cli

int main(int argc, char** argv) { return uptls::cli::main(argc, argv); }
