// uptls: STARTTLS from the command line, over any compiled-in TLS backend.
#include <cstdio>
#include <cstring>

#include "commands.hpp"

namespace {

void usage(std::FILE* to) {
  std::fputs(
      "usage: uptls COMMAND [options]\n"
      "\n"
      "  backends                       the compiled-in TLS backends and what each can do\n"
      "  smtp HOST [PORT]               STARTTLS to an SMTP server (port 25; 465 with --implicit),\n"
      "                                 show the dialogue and what the handshake negotiated\n"
      "      --implicit                 implicit TLS (port 465) instead of STARTTLS\n"
      "      --backend NAME             TLS backend (default: the first compiled in)\n"
      "      --profile strict|legacy    security profile (default strict)\n"
      "      --fallback                 strict first, then legacy on a fresh connection when the\n"
      "                                 server refuses strict as a policy mismatch (reported)\n"
      "      --eof-is-trigger           with --fallback: also climb down when the server hangs up\n"
      "                                 before its first handshake message (some servers do that\n"
      "                                 instead of an alert; so can an attacker)\n"
      "      --ca FILE                  trusted CA certificates (PEM); default: the system store\n"
      "      --name NAME                name to verify and send as SNI (default: HOST)\n"
      "      --ehlo NAME                EHLO name (default localhost)\n"
      "      --opportunistic            go on WITHOUT TLS when STARTTLS is not offered\n"
      "      --timeout SECONDS          wait for each reply at most this long (default 30)\n"
      "      --send FROM TO             send standard input as a message\n"
      "      --dangerous-skip-verification  accept any certificate (tests only)\n"
      "  smtp-server                    a uptls SMTP server printing each dialogue and message\n"
      "      --listen HOST              address to listen on (default 127.0.0.1)\n"
      "      --port N                   port (default 0: any free port, printed)\n"
      "      --cert FILE --key FILE     certificate chain and key (PEM); without them no STARTTLS\n"
      "      --backend NAME, --profile strict|legacy, --timeout SECONDS\n"
      "      --require-tls              refuse MAIL before STARTTLS (530)\n"
      "      --implicit                 implicit TLS (port-465 style)\n"
      "      --once                     serve one connection, then exit (its status)\n"
      "\n"
      "The dialogue and the negotiated facts go to standard output; errors and hints go to\n"
      "standard error. Exit status: 0 success, 1 the session failed (the error says why),\n"
      "2 bad usage.\n",
      to);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "help") == 0 || std::strcmp(cmd, "--help") == 0 || std::strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (std::strcmp(cmd, "backends") == 0) return uptls::cli::backends_command(argc, argv);
  if (std::strcmp(cmd, "smtp") == 0) return uptls::cli::smtp_command(argc, argv);
  if (std::strcmp(cmd, "smtp-server") == 0) return uptls::cli::smtp_server_command(argc, argv);
  std::fprintf(stderr, "uptls: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
