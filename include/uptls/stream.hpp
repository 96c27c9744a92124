// uptls::stream: the upgradeable transport. One object owns the socket and the
// only buffer: plaintext lines first, then start_tls() upgrades the same
// connection in place and every later read and write goes through TLS.
//
// The upgrade is one-way and all-or-nothing: plaintext -> handshaking -> tls.
// start_tls() refuses buffered plaintext (an injection), refuses a second call,
// and drops the plaintext buffer. Fatal errors are sticky.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/backend.hpp"
#include "uptls/engine.hpp"
#include "uptls/result.hpp"
#include "uptls/transport.hpp"

namespace uptls {

struct stream_options {
  // Longest line read_line accepts, terminator included. SMTP allows 1000 octets
  // per text line (RFC 5321 4.5.3.1.6); longer ones are discarded up to their LF.
  std::size_t max_line = 4096;
};

class stream {
 public:
  enum class state { plaintext, tls, closed, failed };

  explicit stream(std::unique_ptr<transport> io, stream_options opts = {});
  ~stream();
  stream(stream&&) noexcept;
  stream& operator=(stream&&) noexcept;

  // Reads one line (LF or CRLF ends it; the terminator is removed). Errors:
  // eof (clean close between lines), incomplete_line (partial line left in line),
  // line_too_long (the line was discarded; the stream stays usable), timeout,
  // truncated (TLS ended without close_notify), and those of the transport.
  std::error_code read_line(std::string& line);
  // Whether the last line read_line returned ended with CRLF (false: a bare LF).
  // SMTP servers need it to accept only CRLF.CRLF as the end of a message.
  bool last_line_crlf() const noexcept { return last_crlf_; }
  // Reads what is available (buffered bytes first); 0 bytes = the peer closed cleanly.
  result<std::size_t> read_some(std::span<std::byte> buf);
  // Writes everything, in plaintext or TLS according to the state.
  std::error_code write(std::span<const std::byte> buf);
  std::error_code write(std::string_view text);

  // Upgrades in place. errc::usage if already TLS or closed; errc::plaintext_injection
  // if plaintext bytes are buffered (they are dropped, the stream fails). On a
  // handshake error the stream is failed and last_failure() says why.
  std::error_code start_tls(std::shared_ptr<const context> ctx, const peer_options& peer = {});

  // Sends close_notify (in TLS) and closes the transport. Safe to call twice.
  std::error_code close();

  state current() const noexcept { return state_; }
  bool is_tls() const noexcept { return state_ == state::tls; }
  // Bytes read from the peer and not yet consumed.
  std::size_t buffered() const noexcept { return buf_.size() - head_; }
  // The negotiated facts; nullptr before the upgrade.
  const session_info* session() const noexcept { return session_ ? &*session_ : nullptr; }
  // Detail of the last TLS failure (empty if none).
  const failure_info& last_failure() const noexcept { return failure_; }
  // The first fatal error, or empty.
  std::error_code error() const noexcept { return error_; }
  // The transport under the stream (e.g. to read its socket for poll()).
  transport& lower() noexcept { return *io_; }

 private:
  std::error_code fill();
  std::error_code fail(std::error_code ec);
  std::error_code fail(errc e) { return fail(make_error_code(e)); }
  std::error_code tls_failed(const op_result& r);
  void close_after_failure();

  std::unique_ptr<transport> io_;
  std::unique_ptr<transport> watch_;  // records the server's first records during the handshake
  stream_options opts_;
  state state_ = state::plaintext;
  std::vector<std::byte> buf_;
  std::size_t head_ = 0;
  bool discarding_ = false;  // inside an over-long line: drop bytes up to its LF
  bool last_crlf_ = false;   // the last line read ended with CRLF
  std::shared_ptr<const context> ctx_;
  std::unique_ptr<engine> engine_;
  std::optional<session_info> session_;
  failure_info failure_;
  std::error_code error_;
};

}  // namespace uptls
