// A man in the middle for the fallback tests: a thread that accepts on 127.0.0.1,
// relays each connection to the real server, records what the client sent, and
// tampers with one chosen connection the way an attacker on the path would.
// Its sockets are uptls's own non-blocking transports: every wait is a bounded
// poll, so a peer that stops reading cannot hang the relay (or the test).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "uptls/transport.hpp"

namespace uptls::test {

class relay {
 public:
  enum class mode {
    pass,            // forward both ways, untouched
    forge_alert,     // instead of the server's first flight after the ClientHello: a fatal alert (40 by default), then close
    reset,           // at the client's first TLS record: close both sides with RST (SO_LINGER 0)
    silent,          // at the client's first TLS record: stop forwarding, hold the connection open until the client leaves
    hang_up,         // at the client's first TLS record: close both sides (FIN, no alert)
    strip_starttls,  // in the server's plaintext lines, overwrite "STARTTLS" with "XXXXXXXX"
    inject,          // after the server line starting with inject_after, send inject_bytes too
    plaintext_reply, // at the client's first TLS record: answer it with inject_bytes (plaintext), then close
  };

  // Relays to 127.0.0.1:upstream_port; the listening port is port().
  explicit relay(std::uint16_t upstream_port);
  ~relay();
  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  // Tampers with the connection numbered `on` (1 = the next one accepted, counted
  // from this call); the others pass untouched. on = 0: every connection.
  void tamper(mode m, int on = 1);
  void set_alert(std::uint8_t description) { alert_ = description; }
  // A slow path: what the server sends (and its end of stream) reaches the client
  // `delay` later, on the connections accepted from now on, so that the client
  // must wait for every reply however quickly the server answers. Not combined
  // with the line modes (strip_starttls, inject), which forward at once.
  void set_latency(std::chrono::milliseconds delay);
  // A slow but steady path: what the server sends goes on `chunk` bytes at a
  // time, one chunk per `every` (after the latency, if any); same connections
  // and modes as set_latency.
  void set_pace(std::size_t chunk, std::chrono::milliseconds every);
  void set_injection(std::string after_line_prefix, std::string bytes);

  // Connections accepted since the last tamper() (or since construction), once
  // every connection already made to the relay has been accepted.
  int connections() const;
  // What the client of connection n (from 1, same count) sent, as relayed to the
  // server; waits (at most 5 s) for that connection to end first.
  std::string client_sent(int n) const;

 private:
  struct conn_log {
    std::string from_client;
    bool done = false;
  };
  void accept_loop();
  void serve(std::unique_ptr<socket_transport> client, int index, bool tampered);
  void log_client(int index, const char* data, std::size_t n);

  std::uint16_t upstream_;
  tcp_listener listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepting_{false};  // between a ready listener and the connection's log entry
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;  // a connection was logged, or one ended
  mode mode_ = mode::pass;
  int target_ = 0;
  int base_ = 0;  // accepted connections before the last tamper()
  std::uint8_t alert_ = 40;
  std::chrono::milliseconds latency_{0};
  std::size_t pace_chunk_ = 0;  // 0: whole reads
  std::chrono::milliseconds pace_every_{0};
  std::string inject_after_;
  std::string inject_bytes_;
  std::vector<conn_log> logs_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace uptls::test
