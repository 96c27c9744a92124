/// @file
/// uptls::stream: the upgradeable transport. One object owns the connection and
/// its only read buffer: plaintext lines first, then start_tls() upgrades the
/// same connection in place, and every later read and write goes through TLS.
///
/// The upgrade is one-way and all-or-nothing: plaintext -> handshaking -> tls.
/// start_tls() refuses buffered plaintext (an injection), refuses a second
/// upgrade, and drops the plaintext buffer. Fatal errors are sticky.
///
/// Every call is resumable. In io_mode::non_blocking a call that cannot finish
/// returns would-block (result::wants() says for what) and is called again when
/// the transport is ready; in io_mode::blocking the same calls wait inside, with
/// poll() and the stream's deadlines. write() never would-block: it takes every
/// byte, sends what it can, and holds the rest, which flush() sends (so no byte
/// is ever submitted twice or lost); flush() is the call that waits.
///
/// Two ways to drive a stream: over a transport with a file descriptor (an event
/// loop polls native_handle()), or buffer-driven (stream::buffer_driven(): the caller
/// feeds the bytes that arrived and takes the bytes to send, for loops that
/// deliver bytes by callback such as Asio or libuv). Line framing, the injection
/// check and the classification of handshake failures are the same in both.
///
/// Deadlines: each call may wait for the peer at most io_timeout without progress
/// (a byte moved); a handshake at most tls_config::handshake_timeout in all; reads
/// not past the read deadline a dialogue sets (set_read_deadline). A call past one
/// of them fails with errc::timeout: fatal during the handshake and for writes,
/// not for reads (a server may still say goodbye). next_deadline() tells an event
/// loop when to call again. See docs/architecture.md "Stream" and "I/O model:
/// resumable all the way down".
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "uptls/backend.hpp"
#include "uptls/result.hpp"
#include "uptls/session.hpp"
#include "uptls/transport.hpp"

namespace uptls {

/// Whether a stream's calls wait for the transport or return would-block.
enum class io_mode {
  blocking,      ///< calls wait (up to the deadlines) and never return would-block
  non_blocking,  ///< calls return would-block; an event loop calls again when ready
};

/// How a stream frames lines, how long it waits, and whether it blocks.
struct stream_options {
  /// Longest line read_line accepts, terminator included. SMTP allows 1000 octets
  /// per text line (RFC 5321 4.5.3.1.6); longer ones are discarded up to their LF.
  std::size_t max_line = 4096;
  /// The longest a call may wait for the peer without any byte moving.
  milliseconds io_timeout{30'000};
  /// Whether calls wait or return would-block (a buffer-driven stream is always non-blocking).
  io_mode mode = io_mode::blocking;
};

namespace detail {
class stream_core;
}  // namespace detail

/// The upgradeable connection: plaintext lines, then TLS on the same transport.
///
/// Not thread-safe: one thread (or one event loop) at a time uses a stream. A
/// moved-from stream may only be destroyed or assigned to.
class stream {
 public:
  /// Where the one-way upgrade stands.
  enum class state {
    plaintext,    ///< lines and bytes in the clear
    handshaking,  ///< start_tls() began and has not finished: call it again
    tls,          ///< upgraded: every byte goes through TLS
    closed,       ///< close() finished
    failed,       ///< a fatal error (error() says which); only close() is left
  };

  /// A stream over a transport (which it owns).
  explicit stream(std::unique_ptr<transport> io, stream_options opts = {});
  /// A buffer-driven stream: no file descriptor; feed() what arrived, send what
  /// output() holds. Always non-blocking.
  static stream buffer_driven(stream_options opts = {});
  /// Closes the transport without close_notify (call close() first for a clean end).
  ~stream();
  /// Takes over the other stream's connection and state.
  stream(stream&&) noexcept;
  /// Drops this stream's connection (as the destructor does) and takes over the other's.
  stream& operator=(stream&&) noexcept;

  /// @name Reading and writing
  /// Reads first send what write() held (the peer may be waiting for it to
  /// answer): until that is out they would block on writing.
  /// @{

  /// Reads one line (LF or CRLF ends it; the terminator is removed). The view
  /// lives until the next call on this stream. Errors: eof (clean close between
  /// lines), incomplete_line (the peer closed inside a line), line_too_long (the
  /// line was discarded up to its LF; the stream stays usable), timeout, truncated
  /// (TLS ended without close_notify), and the transport's.
  result<std::string_view> read_line();
  /// Whether the last line read_line returned ended with CRLF (false: a bare LF).
  bool last_line_crlf() const noexcept;
  /// Reads what is there, buffered bytes first: the count, or 0 when the peer
  /// closed cleanly (close_notify in TLS).
  result<std::size_t> read_some(std::span<std::byte> buf);
  /// Takes all of buf and sends it, in plaintext or TLS by the state. Blocking:
  /// returns once all of it is sent. Non-blocking: returns at once, ok, holding
  /// what the transport did not take (pending_output()); flush() sends it.
  /// A failed send is the stream's error from then on. errc::usage while handshaking.
  result<> write(std::span<const std::byte> buf);
  /// write() of the bytes of text.
  result<> write(std::string_view text);
  /// Sends what write() held: ok once nothing is held, would-block (write)
  /// meanwhile. start_tls() and close() flush first themselves.
  result<> flush();
  /// Bytes write() took and the transport has not accepted yet.
  std::size_t pending_output() const noexcept;
  /// @}

  /// @name The upgrade and the end
  /// @{

  /// Upgrades in place; call again while it would block. errc::usage when already
  /// TLS or closed; errc::plaintext_injection when plaintext bytes are buffered
  /// (they are dropped and the connection closed). On a handshake error the
  /// stream fails, the connection is closed, and last_failure() says why.
  result<> start_tls(std::shared_ptr<const context> ctx, const peer_options& peer = {});
  /// Sends close_notify (in TLS), flushes, and closes the transport; call again
  /// while it would block. Safe to call twice and after a failure.
  result<> close();
  /// @}

  /// @name State
  /// @{

  /// Where the upgrade stands (plaintext, handshaking, tls, closed, failed).
  state current() const noexcept;
  /// The stream is upgraded and usable: every byte goes through TLS.
  bool is_tls() const noexcept { return current() == state::tls; }
  /// Plaintext bytes read from the peer and not yet consumed.
  std::size_t buffered() const noexcept;
  /// The negotiated facts, built on first use; nullptr before the upgrade.
  const session_info* session() const;
  /// Detail of the last TLS failure (empty if none).
  const failure_info& last_failure() const noexcept;
  /// The first fatal error, or empty.
  std::error_code error() const noexcept;
  /// The options it was made with (io_timeout and mode as changed since).
  const stream_options& options() const noexcept;
  /// @}

  /// @name Event loops
  /// @{

  /// The descriptor to poll (-1 when buffer-driven or closed).
  int native_handle() const noexcept;
  /// What the last call that would block waits for (none after one that did not).
  wait_for wants() const noexcept;
  /// When a call that waits should be made again at the latest (it then fails
  /// with errc::timeout); nullopt when nothing waits.
  std::optional<clock::time_point> next_deadline() const noexcept;
  /// Blocks until the transport is ready for w or next_deadline() passes (the step
  /// of the blocking mode; a fd-driven caller of a non-blocking stream may use it).
  result<> wait(wait_for w);
  /// Changes io_timeout from the next wait on (dialogues use phase timeouts).
  void set_io_timeout(milliseconds t) noexcept;
  /// Switches between blocking and non-blocking calls (a buffer-driven stream
  /// stays non-blocking).
  void set_mode(io_mode m) noexcept;
  /// Reads fail with errc::timeout past this point (nullopt: none). A dialogue
  /// bounds a whole command or message with it, so that a peer trickling one byte
  /// per io_timeout cannot hold the connection forever.
  void set_read_deadline(std::optional<clock::time_point> when) noexcept;
  /// The transport under the stream. Reading or writing it directly bypasses the
  /// stream's buffer and TLS (for tests and for shutting a connection down).
  transport& lower() noexcept;
  /// @}

  /// @name Buffer-driven streams
  /// Only for a stream made by stream::buffer_driven(); on the others feed() is
  /// errc::usage and the rest do nothing.
  /// @{

  /// Bytes that arrived from the peer (copied). errc::usage when more than
  /// max_feed() bytes would be waiting: feed only while the stream wants to read.
  result<> feed(std::span<const std::byte> bytes);
  /// The peer closed its sending side.
  void feed_eof() noexcept;
  /// Bytes to send to the peer, oldest first (empty when none or fd-driven).
  std::span<const std::byte> output() const noexcept;
  /// The first n bytes of output() were sent.
  void consume_output(std::size_t n) noexcept;
  /// How many fed bytes may wait unread.
  static constexpr std::size_t max_feed() noexcept { return 256 * 1024; }
  /// @}

 private:
  std::unique_ptr<detail::stream_core> core_;
};

}  // namespace uptls
