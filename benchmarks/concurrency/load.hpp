// What the load generator's two client drivers share: the options, the figures
// one thread collects, the --hold-idle gate and the message. The hand-written
// dialogue (load.cpp, TLS behind client_tls.hpp) and the uptls one (load_uptls.cpp,
// the whole dialogue in uptls::smtp::client) are both a `load_worker`: one thread,
// one epoll set, its share of the sessions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace conc {

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string certs;
  std::string server_name = "localhost";  // SNI and the certificate name check
  std::size_t sessions = 0;               // 0: as many as --concurrency
  std::size_t concurrency = 100;
  bool hold_idle = false;
  double ramp = 0;  // new connections per second; 0: as fast as the loop goes
  std::size_t max_connecting = 1024;  // sessions connected but not yet greeted, at most
  int threads = 1;
  std::size_t body_bytes = 1024;
  std::size_t bad_messages = 0;
  std::size_t warmup = 4;
  double session_timeout = 300;
  double timeout = 900;
  double settle = 0.2;
  std::string version;
  std::string client = "raw";          // --client: raw (the hand-written dialogue) or uptls
  std::string client_tls = "openssl";  // --client-tls: the raw dialogue's TLS
  bool client_tls_given = false;       // --client-tls was on the command line
  std::string client_backend = "openssl";  // --client-backend: uptls's backend for --client uptls
  int server_in = -1;
  int server_out = -1;
};

// The EHLO name both drivers greet with.
constexpr std::string_view ehlo_name = "client.localhost";

// What one thread saw.
struct results {
  std::size_t started = 0, completed = 0, failed = 0, messages_accepted = 0, bad_rejected = 0, peak_open = 0;
  std::map<std::string, std::size_t> failures;
  std::vector<double> ttfb_us, handshake_us, connect_us, session_ms;
  std::string negotiated;
  std::int64_t first_start = 0, last_done = 0;

  void merge(const results& r) {
    started += r.started;
    completed += r.completed;
    failed += r.failed;
    messages_accepted += r.messages_accepted;
    bad_rejected += r.bad_rejected;
    peak_open += r.peak_open;  // per thread peaks; their sum bounds the true peak
    for (const auto& [k, v] : r.failures) failures[k] += v;
    ttfb_us.insert(ttfb_us.end(), r.ttfb_us.begin(), r.ttfb_us.end());
    handshake_us.insert(handshake_us.end(), r.handshake_us.begin(), r.handshake_us.end());
    connect_us.insert(connect_us.end(), r.connect_us.begin(), r.connect_us.end());
    session_ms.insert(session_ms.end(), r.session_ms.begin(), r.session_ms.end());
    if (negotiated.empty()) negotiated = r.negotiated;
    if (r.first_start != 0 && (first_start == 0 || r.first_start < first_start)) first_start = r.first_start;
    last_done = r.last_done > last_done ? r.last_done : last_done;
  }
};

// What --hold-idle shares between the coordinator (main thread) and the workers.
struct hold_gate {
  std::size_t expected = 0;             // the sessions to hold, over all workers
  std::atomic<std::size_t> settled{0};  // held sessions that reached the hold, or failed before it
  std::atomic<std::size_t> held{0};     // of those, the ones now idle
  std::atomic<bool> resume{false};
};

// The message of session `id`: headers with X-Check, a blank line, a body unique
// to the session with lines that need dot-stuffing, CRLF line ends. The body's
// FNV-1a 64 is the X-Check (off by one bit when `bad`). `stuffed`: dot-stuffed and
// ended with ".", as the DATA payload goes on the wire; otherwise as a client
// library takes it (it stuffs and ends it itself).
std::string make_message(std::size_t id, std::size_t body_bytes, bool bad, bool stuffed);

// One thread's share of a phase: sessions with ids [first, first + count), at most
// `concurrency` at once and `max_connecting` before their greeting, the first
// `wave` held idle while gate->resume is false, ids below `bad_until` with a wrong
// X-Check, everything failed at `run_deadline`.
struct worker_params {
  const options* o = nullptr;
  std::size_t first = 0, count = 0, concurrency = 0;
  double ramp = 0;
  std::size_t max_connecting = 0, wave = 0;
  hold_gate* gate = nullptr;
  std::size_t bad_until = 0;
  std::int64_t run_deadline = 0;
};

class load_worker {
 public:
  virtual ~load_worker() = default;
  // Runs the thread's sessions to their end; throws std::runtime_error when the
  // thread itself cannot go on (epoll failed).
  virtual void run() = 0;
  // Tells the worker that gate->resume changed (called from the coordinator).
  virtual void wake() = 0;
  results r;
};

// A client that runs the whole dialogue itself, shared by the threads.
class dialogue_client {
 public:
  virtual ~dialogue_client() = default;
  // What ran, for the JSON: the dialogue and the TLS under it.
  virtual std::string description() const = 0;
  virtual std::string tls_description() const = 0;
  virtual std::unique_ptr<load_worker> make_worker(const worker_params& p) = 0;
};

// uptls::smtp::client over non-blocking uptls streams (load_uptls.cpp). Throws
// std::runtime_error when the TLS context cannot be made.
std::unique_ptr<dialogue_client> make_uptls_dialogue_client(const options& o);

}  // namespace conc
