// Fault injection: a uptls SMTP client and a uptls SMTP server (STARTTLS
// required) talk through a relay on loopback that cuts the connection after
// byte N of one direction, for N through the plaintext dialogue, at every TLS
// record boundary and at a stride inside the records (UPTLS_FAULT_SWEEP=full:
// every byte, for ./dev soak). Each cut must end, quickly and on both sides, in
// a uptls::errc of the set its phase allows; a handshake cut short is never
// reported as done, and a message the client saw accepted was delivered. Relays
// that split every write into 1-byte pieces, or hold each piece back, must not
// change the outcome: the session succeeds.
//
// One program per backend; Meson runs it in blocking mode (serve() and blocking
// client calls) and non-blocking mode (the event server and resumed client).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cut_relay.hpp"
#include "harness.hpp"

using namespace uptls;
using namespace uptls::test;
using namespace uptls::test::smtp;
using namespace std::chrono_literals;
using fault::cut_relay;
using fault::direction;
using fault::relay_options;

namespace {

// How long one cut session may take at most; a cut is seen at once (the relay
// closes both sides), so anything near the stream timeouts is a hang.
constexpr auto session_bound = 2500ms;
constexpr auto io_timeout = 4s;

const char* name_of(direction d) { return d == direction::to_server ? "client->server" : "server->client"; }

std::shared_ptr<const context> server_ctx() {
  static const auto ctx = [] {
    tls_config cfg = server_config();
    cfg.handshake_timeout = io_timeout;
    // Every session a full handshake, as the one mapped: a resumed one is shorter.
    cfg.resumption = false;
    return make_ctx(backend_under_test(), cfg, role::server);
  }();
  return ctx;
}
std::shared_ptr<const context> client_ctx() {
  static const auto ctx = [] {
    tls_config cfg = client_config();
    cfg.handshake_timeout = io_timeout;
    cfg.resumption = false;
    return make_ctx(backend_under_test(), cfg, role::client);
  }();
  return ctx;
}

// One whole session through a relay: open (greeting, EHLO, STARTTLS, handshake,
// EHLO), one message, QUIT.
struct outcome {
  result<> open, mail, quit;
  std::error_code client_error;  // the first failure of the three
  bool tls_ehlo = false;         // the client sent EHLO inside TLS: it took the handshake as done
  result<> server;
  std::vector<uptls::smtp::message> delivered;
  std::chrono::milliseconds took{0};
  bool cut = false;
  std::string to_server, to_client;
  std::vector<fault::relay_event> events;
};

outcome run_session(const relay_options& ro) {
  outcome o;
  const auto start = std::chrono::steady_clock::now();
  uptls::smtp::server_options so;
  so.hostname = "mx.test";
  so.tls = server_ctx();
  so.require_tls = true;
  so.timeouts = {io_timeout, io_timeout, io_timeout};
  server_run server(so, quick(io_timeout));
  {
    cut_relay relay(server.port(), ro);
    {
      uptls::smtp::client_options co;
      co.ehlo_name = "client.test";
      int ehlos = 0;
      co.trace = [&](std::string_view dir, std::string_view line) {
        if (dir == "C" && line.rfind("EHLO ", 0) == 0) ++ehlos;
      };
      test::smtp::client c(client_to(relay.port(), quick(io_timeout)), co);
      peer_options peer;
      peer.server_name = "localhost";
      o.open = c.open(client_ctx(), peer);
      o.tls_ehlo = ehlos >= 2;
      o.mail = make_error_code(errc::usage);
      o.quit = make_error_code(errc::usage);
      if (o.open) o.mail = c.send_mail("from@test", {"to@test"}, "Subject: cut\r\n\r\nbody\r\n");
      if (o.open && o.mail) o.quit = c.quit();
      for (const result<>* r : {&o.open, &o.mail, &o.quit}) {
        if (!*r) {
          o.client_error = r->error();
          break;
        }
      }
    }  // the client's connection closes here
    relay.join();
    o.cut = relay.did_cut();
    o.to_server = relay.sent(direction::to_server);
    o.to_client = relay.sent(direction::to_client);
    o.events = relay.events();
  }
  o.server = server.finish();
  o.delivered = server.messages();
  o.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return o;
}

// Where each direction's dialogue changes phase, from a session that ran whole.
struct wire_map {
  std::size_t length[2] = {0, 0};
  std::size_t tls_start[2] = {0, 0};         // the first TLS byte (0x16: the ClientHello / ServerHello)
  std::vector<std::size_t> boundaries[2];   // the end of every TLS record
  // The end of the handshake part a peer must have before it can finish:
  //  to_server: the end of the ClientHello record (without it the server cannot answer);
  //  to_client: what the server had sent when the client answered its first
  //  flight (without all of it the client cannot finish).
  std::size_t must_have[2] = {0, 0};
  // Where the last record starts: each side's close_notify after QUIT and 221.
  // A cut inside it comes after the dialogue is over and may leave both content.
  std::size_t dialogue_end[2] = {0, 0};
};

int index_of(direction d) { return d == direction::to_server ? 0 : 1; }

wire_map map_wire(const outcome& whole) {
  wire_map m;
  const std::string* streams[2] = {&whole.to_server, &whole.to_client};
  for (int i = 0; i < 2; ++i) {
    const std::string& s = *streams[i];
    m.length[i] = s.size();
    // Plaintext SMTP is ASCII text; the first 0x16 is the first TLS record.
    const auto at = s.find('\x16');
    EXPECT_NE(at, std::string::npos) << "no TLS record " << (i == 0 ? "to the server" : "to the client");
    m.tls_start[i] = at == std::string::npos ? s.size() : at;
    std::size_t pos = m.tls_start[i];
    while (pos + 5 <= s.size()) {
      const std::size_t len = (static_cast<unsigned char>(s[pos + 3]) << 8) | static_cast<unsigned char>(s[pos + 4]);
      pos += 5 + len;
      if (pos > s.size()) break;
      m.boundaries[i].push_back(pos);
    }
    EXPECT_EQ(pos, s.size()) << "the TLS part does not end on a record boundary";
  }
  for (int i = 0; i < 2; ++i) {
    const auto& b = m.boundaries[i];
    m.dialogue_end[i] = b.size() >= 2 ? b[b.size() - 2] : m.length[i];
  }
  m.must_have[0] = m.boundaries[0].empty() ? m.length[0] : m.boundaries[0].front();
  m.must_have[1] = m.length[1];
  for (const auto& e : whole.events) {
    if (e.way == direction::to_server && e.to_server > m.must_have[0]) {
      m.must_have[1] = e.to_client;
      break;
    }
  }
  return m;
}

enum class phase { plaintext, handshake, tls };
const char* name_of(phase p) {
  switch (p) {
    case phase::plaintext: return "plaintext";
    case phase::handshake: return "handshake";
    case phase::tls: return "tls";
  }
  return "?";
}

// What may end a client cut in each phase. The plaintext dialogue ends on its
// own terms (a closed connection between lines or inside one); inside TLS the
// stream ends without close_notify. A reset can come in any phase (the relay
// closes with unread bytes). Never a timeout: the cut is seen at once.
const std::set<errc>& allowed(phase p) {
  static const std::set<errc> plain = {errc::eof, errc::incomplete_line, errc::connection_reset, errc::network};
  static const std::set<errc> hs = {errc::eof, errc::truncated, errc::connection_reset, errc::network,
                                    errc::bad_message};
  static const std::set<errc> tls = {errc::eof, errc::truncated, errc::connection_reset, errc::network};
  return p == phase::plaintext ? plain : p == phase::handshake ? hs : tls;
}

bool in_uptls_set(std::error_code ec, const std::set<errc>& set) {
  return ec.category() == uptls::category() && set.count(static_cast<errc>(ec.value())) > 0;
}

std::string describe(const outcome& o) {
  std::ostringstream s;
  s << "open=" << to_string(o.open) << " mail=" << to_string(o.mail) << " quit=" << to_string(o.quit)
    << " server=" << to_string(o.server) << " delivered=" << o.delivered.size() << " tls_ehlo=" << o.tls_ehlo
    << " took=" << o.took.count() << "ms";
  return s.str();
}

// The cut points of one direction.
std::vector<std::size_t> cut_points(const wire_map& m, int i, bool full) {
  std::set<std::size_t> n;
  if (full) {
    for (std::size_t k = 0; k < m.length[i]; ++k) n.insert(k);
  } else {
    for (std::size_t k = 0; k <= m.tls_start[i]; ++k) n.insert(k);  // every byte of the plaintext
    n.insert(m.tls_start[i] + 1);
    for (std::size_t b : m.boundaries[i]) {  // at each record end, inside the next header, after it
      for (std::size_t k : {b, b + 1, b + 5}) n.insert(k);
    }
    for (std::size_t k = m.tls_start[i]; k < m.length[i]; k += 53) n.insert(k);  // inside the records
    n.insert(m.must_have[i] - 1);
  }
  std::vector<std::size_t> out;
  for (std::size_t k : n)
    if (k < m.length[i]) out.push_back(k);
  return out;
}

bool full_sweep() {
  const char* e = std::getenv("UPTLS_FAULT_SWEEP");
  return e != nullptr && std::string(e) == "full";
}

class Fault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    whole_ = std::make_unique<outcome>(run_session({}));
    map_ = map_wire(*whole_);
  }
  static std::unique_ptr<outcome> whole_;
  static wire_map map_;
};
std::unique_ptr<outcome> Fault::whole_;
wire_map Fault::map_;

TEST_F(Fault, UncutSessionSucceeds) {
  const outcome& o = *whole_;
  ASSERT_TRUE(o.open && o.mail && o.quit) << describe(o);
  EXPECT_TRUE(o.server) << describe(o);
  ASSERT_EQ(o.delivered.size(), 1u);
  EXPECT_TRUE(o.delivered[0].over_tls);
  EXPECT_FALSE(o.cut);
  // The map found the dialogue's phases.
  EXPECT_GT(map_.tls_start[0], 10u);
  EXPECT_GT(map_.tls_start[1], 10u);
  EXPECT_GE(map_.boundaries[0].size(), 3u);
  EXPECT_GE(map_.boundaries[1].size(), 3u);
  EXPECT_GT(map_.must_have[1], map_.tls_start[1]);
}

void sweep(direction way, const wire_map& m, std::size_t* runs, std::size_t* missed, std::chrono::milliseconds* longest) {
  const int i = index_of(way);
  for (std::size_t n : cut_points(m, i, full_sweep())) {
    relay_options ro;
    ro.cut_after = n;
    ro.cut_way = way;
    const outcome o = run_session(ro);
    ++*runs;
    *longest = std::max(*longest, o.took);
    const phase p = n < m.tls_start[i] ? phase::plaintext : n < m.must_have[i] ? phase::handshake : phase::tls;
    const std::string where = std::string("cut ") + name_of(way) + " after byte " + std::to_string(n) + " (" +
                              name_of(p) + "): " + describe(o);
    // A cut before the dialogue's end: the client cannot have finished. Inside
    // the last record (the close_notify) the cut may find the stream over first.
    // Should a session send less than the mapped one, a cut point past its end
    // is not reached, and then the session must have run whole.
    const bool whole = o.open && o.mail && o.quit;
    if (!o.cut) {
      ++*missed;
      EXPECT_TRUE(whole) << where;
      continue;
    }
    if (n < m.dialogue_end[i]) EXPECT_FALSE(whole) << where;
    if (!whole) {
      EXPECT_TRUE(in_uptls_set(o.client_error, allowed(p))) << where << " client error " << o.client_error.message();
    }
    EXPECT_LT(o.took, session_bound) << where;
    // Half a handshake is never a handshake.
    if (p != phase::tls) {
      EXPECT_FALSE(o.open) << where;
      EXPECT_FALSE(o.tls_ehlo) << where;
      EXPECT_TRUE(o.delivered.empty()) << where;
    }
    // What the client saw accepted was delivered, over TLS.
    if (o.mail) {
      EXPECT_EQ(o.delivered.size(), 1u) << where;
    }
    for (const auto& msg : o.delivered) EXPECT_TRUE(msg.over_tls) << where;
    // The server ends too, in time and for a reason of the same kind (or after QUIT).
    if (!o.server) {
      std::set<errc> server_set = allowed(phase::handshake);
      server_set.insert(errc::incomplete_line);
      EXPECT_TRUE(in_uptls_set(o.server.error(), server_set)) << where << " server error " << o.server.error().message();
    }
    if (::testing::Test::HasFailure()) return;  // the first failing cut says enough
  }
}

TEST_F(Fault, CutTowardsServer) {
  std::size_t runs = 0;
  std::size_t missed = 0;
  std::chrono::milliseconds longest{0};
  sweep(direction::to_server, map_, &runs, &missed, &longest);
  // Most cut points must be reached, or the sweep tests nothing.
  EXPECT_LE(missed * 4, runs) << missed << " of " << runs << " cut points past the session's end";
  std::printf("%zu cuts client->server (%s sweep of %zu bytes, %zu past the end), longest %lld ms\n", runs,
              full_sweep() ? "full" : "sampled", map_.length[0], missed, static_cast<long long>(longest.count()));
}

TEST_F(Fault, CutTowardsClient) {
  std::size_t runs = 0;
  std::size_t missed = 0;
  std::chrono::milliseconds longest{0};
  sweep(direction::to_client, map_, &runs, &missed, &longest);
  // Most cut points must be reached, or the sweep tests nothing.
  EXPECT_LE(missed * 4, runs) << missed << " of " << runs << " cut points past the session's end";
  std::printf("%zu cuts server->client (%s sweep of %zu bytes, %zu past the end), longest %lld ms\n", runs,
              full_sweep() ? "full" : "sampled", map_.length[1], missed, static_cast<long long>(longest.count()));
}

void expect_whole(const outcome& o, const std::string& what) {
  EXPECT_TRUE(o.open) << what << ": " << describe(o);
  EXPECT_TRUE(o.mail) << what << ": " << describe(o);
  EXPECT_TRUE(o.quit) << what << ": " << describe(o);
  EXPECT_TRUE(o.server) << what << ": " << describe(o);
  ASSERT_EQ(o.delivered.size(), 1u) << what;
  EXPECT_TRUE(o.delivered[0].over_tls) << what;
  EXPECT_EQ(o.delivered[0].data, "Subject: cut\r\n\r\nbody\r\n") << what;
}

TEST_F(Fault, OneBytePiecesSucceed) {
  relay_options ro;
  ro.piece = 1;
  const outcome o = run_session(ro);
  expect_whole(o, "1-byte pieces");
  // The same bytes went each way, one segment each, as without the split.
  EXPECT_EQ(o.events.size(), o.to_server.size() + o.to_client.size());
  EXPECT_GT(o.events.size(), map_.length[0] + map_.length[1] / 2);
}

TEST_F(Fault, DelayedPiecesSucceed) {
  relay_options ro;
  ro.piece = 512;
  ro.delay = 15ms;
  const outcome o = run_session(ro);
  expect_whole(o, "delayed pieces");
  // Every piece waited: the session took at least that long per piece.
  EXPECT_GE(o.took, 15ms * static_cast<long>(o.events.size()));
}

}  // namespace
