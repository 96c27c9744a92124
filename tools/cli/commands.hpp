// The subcommands of the uptls tool; each returns the process exit status
// (0 success, 1 failure, 2 bad usage).
#pragma once

namespace uptls::cli {

// uptls backends: the compiled-in TLS backends, their versions and capabilities.
int backends_command(int argc, char** argv);
// uptls smtp HOST [PORT] ...: STARTTLS (or implicit TLS) to an SMTP server.
int smtp_command(int argc, char** argv);
// uptls smtp-server ...: a uptls SMTP server that prints each dialogue and message.
int smtp_server_command(int argc, char** argv);

}  // namespace uptls::cli
