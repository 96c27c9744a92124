// A relay on loopback between a client and a server, for fault injection: it
// forwards one connection both ways and can cut it (close both sides) once a
// given number of bytes has gone one way, split every write into pieces of a
// few bytes (each its own TCP segment), or hold every piece back a while. It
// records both byte streams and, for every piece it forwarded, how far each
// direction had got by then, so that a test can find the dialogue's phases
// (plaintext, each TLS record, the end of a handshake flight) on the wire.
//
// Every wait is a bounded poll and the relay gives up on a connection after
// `lifetime`, so a peer that stops cannot hang it.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace uptls::test::fault {

enum class direction { to_server, to_client };

struct relay_options {
  // Cut: after this many bytes went `cut_way`, both sides are closed (nothing
  // more moves either way). npos: never.
  std::size_t cut_after = static_cast<std::size_t>(-1);
  direction cut_way = direction::to_server;
  // Each send carries at most this many bytes (0: whatever was read), with
  // TCP_NODELAY so that each piece leaves as a segment of its own.
  std::size_t piece = 0;
  // Each piece is held back this long before it is sent.
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds lifetime{20'000};
};

// One forwarded piece: its direction and both directions' totals after it.
struct relay_event {
  direction way;
  std::size_t to_server;
  std::size_t to_client;
};

class cut_relay {
 public:
  // Listens on 127.0.0.1 (port()) and relays the first connection to
  // 127.0.0.1:upstream.
  cut_relay(std::uint16_t upstream, relay_options opts);
  ~cut_relay();
  cut_relay(const cut_relay&) = delete;
  cut_relay& operator=(const cut_relay&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // Waits (bounded by the lifetime) until the relayed connection is over.
  void join();
  // What went each way (after join()).
  const std::string& sent(direction d) const { return d == direction::to_server ? to_server_ : to_client_; }
  const std::vector<relay_event>& events() const { return events_; }
  // Whether the cut happened.
  bool did_cut() const noexcept { return cut_done_; }

 private:
  void run();
  // Forwards bytes from one side to the other within the options; false once the
  // connection is to be cut.
  bool forward(int to, direction way, const char* data, std::size_t n);

  std::uint16_t upstream_;
  relay_options opts_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string to_server_;
  std::string to_client_;
  std::vector<relay_event> events_;
  bool cut_done_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace uptls::test::fault
