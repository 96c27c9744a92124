// The non-TLS scaffolding every benchmark driver shares: command line, sockets
// (one AF_UNIX socketpair per connection, or loopback TCP), the client and server
// threads, timing, CPU time, heap, the SMTP exchange and the JSON output.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impl.hpp"

namespace bench {

// Runs the driver: parses argv, runs one case with impl, prints one JSON object.
// Exit status 0 when the case ran or was skipped as unsupported, 1 on failure, 2 on usage.
int main(int argc, char** argv, implementation& impl);

// One JSON object, fields in insertion order.
class json {
 public:
  json& set(const std::string& key, const std::string& value);
  json& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
  json& set(const std::string& key, double value);
  json& set(const std::string& key, std::int64_t value);
  json& set(const std::string& key, int value) { return set(key, static_cast<std::int64_t>(value)); }
  json& set(const std::string& key, std::size_t value) { return set(key, static_cast<std::int64_t>(value)); }
  json& set(const std::string& key, bool value);
  // A value that is already JSON text (an array or object).
  json& set_json(const std::string& key, std::string text) { return raw(key, std::move(text)); }
  std::string text() const;

 private:
  json& raw(const std::string& key, std::string value);
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The two ends of one connection at a time: AF_UNIX socketpairs handed from the
// client thread to the server thread, or a loopback TCP listener.
class connector {
 public:
  virtual ~connector() = default;
  // Client side: a connected socket.
  virtual int connect() = 0;
  // Server side: the next connected socket, or -1 after finish().
  virtual int accept() = 0;
  // Client side: no more connections; accept() returns -1.
  virtual void finish() = 0;
  static std::unique_ptr<connector> make(std::string_view kind);
};

// Blocking socket with read/write timeouts, so a broken peer ends a run, never hangs it.
void set_socket_timeouts(int fd, std::chrono::seconds t);

// Reads CRLF lines through any read function, keeping what follows in its buffer.
class line_reader {
 public:
  // read(buf, len) returns bytes read, 0 at end of stream.
  std::string next(const std::function<std::size_t(char*, std::size_t)>& read);
  std::size_t buffered() const noexcept { return buf_.size() - head_; }

 private:
  std::string buf_;
  std::size_t head_ = 0;
};

// A connection base for the raw libraries: plaintext over the fd, TLS lines
// through read(). Closes the fd in its destructor unless released.
class fd_connection : public connection {
 public:
  explicit fd_connection(int fd) : fd_(fd) {}
  ~fd_connection() override;
  void write_plain(std::string_view text) override;
  std::string read_line_plain() override;
  std::string read_line() override;

 protected:
  // Before the handshake: nothing may be left in the plaintext buffer.
  void check_no_plaintext_left() const;
  void close_fd() noexcept;
  int fd_;

 private:
  line_reader plain_;
  line_reader tls_;
};

// Process CPU time (all threads), in seconds.
double cpu_seconds();
// Bytes in use on the glibc heap (mallinfo2().uordblks).
std::size_t heap_in_use();

// Prints the run's JSON with ok=false and this error, and ends the process at
// once (for failures in a thread that others wait for at a barrier).
[[noreturn]] void abort_run(const std::string& error);

// Throws std::runtime_error with what.
[[noreturn]] void fail(const std::string& what);
// Throws std::runtime_error with what and strerror(errno).
[[noreturn]] void fail_errno(const std::string& what);

// The median and a percentile (0-100) of samples (copied, then sorted).
double median(std::vector<double> v);
double percentile(std::vector<double> v, double p);

// Text of a cipher family ("aes128gcm") and back.
std::string_view to_string(cipher_family c);
std::optional<cipher_family> parse_cipher(std::string_view s);

}  // namespace bench
