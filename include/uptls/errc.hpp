/// @file
/// uptls::errc: one portable error vocabulary for every backend.
///
/// Three tiers (docs/architecture.md "Rules"): a broken contract terminates the
/// program, a call in the wrong state is errc::usage, a fault of the peer or the
/// network is one of the protocol codes below. A backend maps its library's own
/// codes into these inside its folder and keeps the raw code and text as detail
/// (failure_info).
#pragma once

#include <string_view>
#include <system_error>

namespace uptls {

/// Why a call failed, the same on every backend. A std::error_code enum: compare
/// an error_code with it (`ec == uptls::errc::timeout`); make_error_code() and
/// to_string() give its code and its stable name.
enum class errc {
  // -- caller's side
  usage = 1,           ///< a call in the wrong state (second start_tls, write after close)
  unsupported,         ///< a setting this backend cannot honour; never silently ignored
  invalid_config,      ///< a setting that cannot work (unreadable PEM, key without cert)
  // -- transport
  timeout,             ///< no progress within the I/O timeout or the handshake deadline
  connection_refused,  ///< nobody listens at the address
  connection_reset,    ///< the peer reset the connection
  network,             ///< any other socket error; the errno is in failure_info
  eof,                 ///< the peer closed the connection between lines (in TLS: with close_notify)
  incomplete_line,     ///< the peer closed the connection in the middle of a line
  line_too_long,       ///< a plaintext line over the stream's limit (rest of it discarded)
  plaintext_injection, ///< plaintext bytes arrived after the go-ahead, before the handshake
  // -- TLS stream
  truncated,           ///< the TLS stream ended without close_notify
  // -- handshake policy (the fallback ladder classifies these)
  handshake_failure,      ///< alert 40, or no parameters in common
  insufficient_security,  ///< alert 71
  protocol_version,       ///< alert 70, or no TLS version in common
  inappropriate_fallback, ///< alert 86
  not_tls,                ///< the peer does not speak TLS here (plaintext, wrong port)
  bad_message,            ///< a malformed or unexpected record or handshake message
  peer_alert,             ///< another fatal alert from the peer (number in failure_info)
  no_application_protocol,///< no ALPN protocol in common (alert 120)
  // -- certificates
  cert_expired,          ///< the peer's certificate (or its chain) is past notAfter
  cert_not_yet_valid,    ///< before notBefore
  cert_untrusted,        ///< the chain does not lead to a trusted CA
  cert_self_signed,      ///< the peer presented a self-signed certificate not in the trust store
  cert_name_mismatch,    ///< the certificate is not for the name we asked for
  cert_invalid,          ///< any other certificate fault (bad signature, bad usage, revoked)
  cert_required,         ///< no certificate was sent where one is required (the peer sent none, or wanted ours)
  cert_rejected_by_peer, ///< the peer refused our certificate (alerts 42-46, 48)
  // -- application dialogues (protocols/)
  starttls_not_offered, ///< the server did not advertise STARTTLS (and TLS is required)
  starttls_refused,     ///< the server answered STARTTLS with an error reply
  protocol_error,       ///< a malformed or unexpected reply in the dialogue (before or inside TLS)
  preauthenticated,     ///< the server greeted as already logged in (IMAP PREAUTH): no STARTTLS can follow
  // -- fallback ladder
  fallback_anomaly,     ///< a permissive retry landed on a forward-secret suite: not the server's doing
  pinned_downgrade,     ///< a host pinned strict failed strict: possible attack, no retry
  internal,             ///< a backend library failed in a way that is nobody's input
};

/// The category of uptls::errc; its name() is "uptls".
const std::error_category& category() noexcept;

/// Builds a std::error_code in the uptls category.
std::error_code make_error_code(errc e) noexcept;

/// The errc for a fatal TLS alert the peer sent (RFC 8446 numbers, the same in
/// every library): 40 handshake_failure, 70 protocol_version, 71 insufficient_security,
/// 86 inappropriate_fallback, 120 no_application_protocol, 42-46 and 48
/// cert_rejected_by_peer, 116 cert_required (the peer wanted our certificate and
/// got none), anything else peer_alert. Backends and core share it so
/// that one alert reads alike whoever received it.
errc from_alert(int alert) noexcept;

/// The enumerator's name, e.g. "cert_expired" (stable, for logs and reports).
std::string_view to_string(errc e) noexcept;

}  // namespace uptls

/// Makes uptls::errc a std::error_code enum (so `ec == uptls::errc::eof` works).
template <>
struct std::is_error_code_enum<uptls::errc> : std::true_type {};
