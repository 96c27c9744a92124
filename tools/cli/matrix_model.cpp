// The matrix's data file: its dimensions, the capability needs, and the rules
// that give every cell its expectation (the last matching rule decides).
#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "matrix.hpp"

namespace uptls::cli::matrix {
namespace {

// Ordered: the data file's order is the report's order.
using json = nlohmann::ordered_json;

// The model keeps the raw rules too: enumerate() reads them.
struct raw_rules {
  json needs, rules;
};
std::map<std::string, raw_rules>& raw_store() {
  static std::map<std::string, raw_rules> store;
  return store;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// A capability of a backend by its name in the data file (uptls backends --json).
std::optional<bool> capability(const backend& b, const std::string& name) {
  const capabilities& c = b.caps();
  if (name == "tls13") return c.tls13;
  if (name == "rsa_key_exchange") return c.rsa_key_exchange;
  if (name == "ip_address_names") return c.ip_address_names;
  if (name == "alpn") return c.alpn;
  if (name == "resumption") return c.resumption;
  if (name == "client_certificates") return c.client_certificates;
  if (name == "system_trust") return c.system_trust;
  if (name == "chacha20") return c.chacha20;
  return std::nullopt;
}

std::string dimension(const cell& c, const std::string& key) {
  if (key == "protocol") return c.protocol;
  if (key == "mode") return c.mode;
  if (key == "client") return c.client;
  if (key == "client_profile") return c.client_profile;
  if (key == "server") return c.server;
  if (key == "server_config") return c.server_config;
  return {};
}

bool when_matches(const std::string& path, const json& when, const cell& c) {
  if (when.is_null()) return true;
  for (const auto& [key, want] : when.items()) {
    const std::string have = dimension(c, key);
    if (key != "protocol" && key != "mode" && key != "client" && key != "client_profile" && key != "server" &&
        key != "server_config") {
      bad(path, "unknown dimension '" + key + "' in a 'when'");
    }
    if (want.is_string()) {
      if (want.get<std::string>() != have) return false;
    } else if (want.is_array()) {
      if (std::none_of(want.begin(), want.end(), [&](const json& v) { return v.get<std::string>() == have; })) return false;
    } else {
      bad(path, "a 'when' value is a string or a list of strings");
    }
  }
  return true;
}

// {"tls13": true}: the side is a uptls backend with that capability value.
bool caps_match(const std::string& path, const json& caps, const std::string& side, bool is_peer) {
  if (caps.is_null()) return true;
  if (is_peer) return false;
  const backend* b = find_backend(side);
  if (b == nullptr) return false;
  for (const auto& [name, want] : caps.items()) {
    const std::optional<bool> have = capability(*b, name);
    if (!have) bad(path, "unknown capability '" + name + "'");
    if (*have != want.get<bool>()) return false;
  }
  return true;
}

expectation parse_expect(const std::string& path, const json& e, int rule) {
  expectation x;
  x.rule = rule;
  if (e.contains("ok")) {
    x.what = expectation::kind::ok;
    x.version = e.at("ok").get<std::string>();
    x.suite = e.value("suite", "");
  } else if (e.contains("error")) {
    x.what = expectation::kind::error;
    x.error = e.at("error").get<std::string>();
  } else if (e.contains("peer_error")) {
    x.what = expectation::kind::peer_error;
    x.peer_text = e.at("peer_error").get<std::string>();
  } else {
    bad(path, "rule " + std::to_string(rule) + ": expect has none of ok, error, peer_error");
  }
  x.fell_back = e.value("fell_back", false);
  return x;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

}  // namespace

facts facts_of(const session_info& s) {
  // The one place that reads session_info's fields.
  return {std::string(to_string(s.version)), s.suite.name, std::string(to_string(s.kx))};
}

std::string cell::name() const {
  return protocol + "/" + mode + "/" + client + ":" + client_profile + "->" + server + "/" + server_config;
}

model load_model(const std::string& path) {
  std::ifstream in(path);
  if (!in) bad(path, "cannot read the data file (give it with --expect FILE)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    bad(path, std::string("not JSON: ") + e.what());
  }
  model m;
  m.path = path;
  try {
    for (const auto& [proto, p] : j.at("protocols").items()) {
      std::vector<std::string> modes;
      for (const auto& [mode, title] : p.at("modes").items()) {
        modes.push_back(mode);
        m.mode_titles[mode] = title.get<std::string>();
      }
      m.protocols.emplace_back(proto, modes);
    }
    for (const auto& [id, title] : j.at("client_profiles").items()) {
      if (id != "default") m.client_profiles.push_back(id);
    }
    for (const auto& [id, s] : j.at("server_configs").items()) {
      server_config c;
      c.id = id;
      c.title = s.at("title").get<std::string>();
      c.cert = s.at("cert").get<std::string>();
      if (s.contains("min")) c.min = s.at("min").get<std::string>();
      if (s.contains("max")) c.max = s.at("max").get<std::string>();
      c.rsa_kx_only = s.value("rsa_kx_only", false);
      m.server_configs.push_back(c);
    }
    for (const char* side : {"clients", "servers"}) {
      for (const auto& [id, p] : j.at("peers").at(side).items()) {
        peer_info info{id, p.at("title").get<std::string>(), p.at("package").get<std::string>(),
                       p.at("modes").get<std::vector<std::string>>()};
        (std::string(side) == "clients" ? m.peer_clients : m.peer_servers).push_back(info);
      }
    }
    for (const auto& [id, list] : j.at("suite_families").items()) m.suite_families[id] = list.get<std::vector<std::string>>();
    raw_store()[path] = {j.at("needs"), j.at("rules")};
  } catch (const json::exception& e) {
    bad(path, std::string("missing or wrong field: ") + e.what());
  }
  return m;
}

std::vector<cell> enumerate(const model& m) {
  const raw_rules& raw = raw_store().at(m.path);
  std::vector<cell> out;
  std::vector<std::string> uptls;
  for (const backend* b : backends()) uptls.emplace_back(b->name());

  const auto add = [&](cell c) {
    // Capability needs first: a cell a backend cannot serve is not run.
    for (std::size_t i = 0; i < raw.needs.size(); ++i) {
      const json& n = raw.needs[i];
      if (!when_matches(m.path, n.value("when", json()), c)) continue;
      bool met = true;
      for (const auto& [key, side, is_peer] :
           {std::tuple{"client_caps", c.client, c.client_is_peer}, std::tuple{"server_caps", c.server, c.server_is_peer}}) {
        if (!n.contains(key)) continue;
        if (is_peer) continue;  // a real peer's abilities are in its own rules
        for (const json& cap : n.at(key)) {
          const std::optional<bool> have = capability(*find_backend(side), cap.get<std::string>());
          if (!have) bad(m.path, "unknown capability '" + cap.get<std::string>() + "' in needs");
          if (!*have) met = false;
        }
      }
      if (n.contains("server_is_peer") && n.at("server_is_peer").get<bool>() != c.server_is_peer) met = false;
      if (!met) {
        c.expect.what = expectation::kind::not_run;
        c.expect.why = n.at("why").get<std::string>();
        c.expect.rule = static_cast<int>(i);
        out.push_back(std::move(c));
        return;
      }
    }
    bool found = false;
    for (std::size_t i = 0; i < raw.rules.size(); ++i) {
      const json& r = raw.rules[i];
      if (!when_matches(m.path, r.value("when", json()), c)) continue;
      if (!caps_match(m.path, r.value("client_caps", json()), c.client, c.client_is_peer)) continue;
      if (!caps_match(m.path, r.value("server_caps", json()), c.server, c.server_is_peer)) continue;
      c.expect = parse_expect(m.path, r.at("expect"), static_cast<int>(i));
      found = true;
    }
    if (!found) bad(m.path, "no rule matches the cell " + c.name());
    if (c.expect.what == expectation::kind::ok && !c.expect.suite.empty() && !m.suite_families.count(c.expect.suite)) {
      bad(m.path, "rule " + std::to_string(c.expect.rule) + " names an unknown suite family '" + c.expect.suite + "'");
    }
    out.push_back(std::move(c));
  };

  const auto has_mode = [](const peer_info& p, const std::string& mode) {
    return std::find(p.modes.begin(), p.modes.end(), mode) != p.modes.end();
  };
  for (const auto& [proto, modes] : m.protocols) {
    for (const std::string& mode : modes) {
      for (const std::string& client : uptls) {
        for (const std::string& prof : m.client_profiles) {
          for (const std::string& server : uptls) {
            for (const server_config& sc : m.server_configs) add({proto, mode, client, prof, server, sc.id, false, false});
          }
          for (const peer_info& p : m.peer_servers) {
            if (!has_mode(p, mode)) continue;
            for (const server_config& sc : m.server_configs) add({proto, mode, client, prof, p.id, sc.id, false, true});
          }
        }
      }
      for (const peer_info& p : m.peer_clients) {
        if (!has_mode(p, mode)) continue;
        for (const std::string& server : uptls) {
          for (const server_config& sc : m.server_configs) add({proto, mode, p.id, "default", server, sc.id, true, false});
        }
      }
    }
  }
  return out;
}

void judge(const model& m, cell& c) {
  const expectation& e = c.expect;
  const outcome& g = c.got;
  std::string why;
  switch (e.what) {
    case expectation::kind::not_run:
      if (g.ran) why = "ran, but the data file says it cannot";
      break;
    case expectation::kind::ok: {
      if (!g.ok) {
        why = "failed: " + describe(g);
        break;
      }
      if (g.negotiated.version != e.version) why = "version " + g.negotiated.version + ", expected " + e.version;
      const auto fam = m.suite_families.find(e.suite);
      if (why.empty() && fam != m.suite_families.end() &&
          std::find(fam->second.begin(), fam->second.end(), g.negotiated.cipher) == fam->second.end()) {
        why = g.negotiated.cipher + " is not in " + e.suite;
      }
      break;
    }
    case expectation::kind::error:
      if (g.ok) why = "succeeded (" + describe(g) + "), expected " + e.error;
      else if (g.error != e.error) why = "failed with " + (g.error.empty() ? "no errc" : g.error) + ", expected " + e.error +
                                         (g.detail.empty() ? "" : " (" + g.detail + ")");
      break;
    case expectation::kind::peer_error:
      if (g.ok) why = "succeeded (" + describe(g) + "), expected the peer to say '" + e.peer_text + "'";
      else if (lower(g.peer_text).find(lower(e.peer_text)) == std::string::npos) {
        why = "the peer did not say '" + e.peer_text + "': " + (g.peer_text.empty() ? g.detail : g.peer_text);
      }
      break;
  }
  if (why.empty() && e.what != expectation::kind::not_run && g.fell_back != e.fell_back) {
    why = g.fell_back ? "the ladder climbed down, expected not to" : "the ladder did not climb down, expected it to";
  }
  c.matched = why.empty();
  c.mismatch = why;
}

std::string describe(const expectation& e) {
  const std::string down = e.fell_back ? ", after climbing down" : "";
  switch (e.what) {
    case expectation::kind::ok: return e.version + " " + e.suite + down;
    case expectation::kind::error: return "error " + e.error + down;
    case expectation::kind::peer_error: return "peer says '" + e.peer_text + "'";
    case expectation::kind::not_run: return "not run: " + e.why;
  }
  return {};
}

std::string describe(const outcome& o) {
  if (!o.ran) return "not run";
  const std::string down = o.fell_back ? ", climbed down" : "";
  if (o.ok) return o.negotiated.version + " " + o.negotiated.cipher + down;
  if (!o.error.empty()) return o.error + down;
  return o.peer_text.empty() ? o.detail : o.peer_text;
}

std::string expectation_list(const model&, const std::vector<cell>& cells) {
  std::string out;
  for (const cell& c : cells) {
    out += c.name() + ": " + describe(c.expect) + "  [" +
           (c.expect.what == expectation::kind::not_run ? "needs " : "rule ") + std::to_string(c.expect.rule) + "]\n";
  }
  return out;
}

}  // namespace uptls::cli::matrix
