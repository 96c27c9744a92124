// An in-memory Sieve script store behind the server's hand-off: what an
// example server or a test needs for real clients to list, fetch, upload and
// activate scripts. Scripts are stored as given, not compiled.
#include <map>
#include <mutex>

#include "uptls/sieve.hpp"
#include "wire.hpp"

namespace uptls::sieve {
namespace {

struct store {
  std::mutex m;
  std::map<std::string, std::string> scripts;
  std::string active;
};

reply ok(std::string text) { return {status::ok, {}, std::move(text), {}}; }
reply no(std::string code, std::string text) { return {status::no, std::move(code), std::move(text), {}}; }

// Script names: 1 to 128 octets without control characters (RFC 5804 1.6).
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

reply run(store& st, const command& c) {
  const std::lock_guard lock(st.m);
  const std::size_t n = c.args.size();
  if (c.name == "LISTSCRIPTS" && n == 0) {
    reply r = ok("Listscripts completed");
    for (const auto& [name, text] : st.scripts) r.data.push_back(quote(name) + (name == st.active ? " ACTIVE" : ""));
    return r;
  }
  if (c.name == "GETSCRIPT" && n == 1) {
    const auto it = st.scripts.find(c.args[0]);
    if (it == st.scripts.end()) return no("NONEXISTENT", "there is no such script");
    reply r = ok("Getscript completed");
    r.data.push_back(literal(it->second));
    return r;
  }
  if (c.name == "PUTSCRIPT" && n == 2) {
    if (!valid_name(c.args[0])) return no({}, "bad script name");
    st.scripts[c.args[0]] = c.args[1];
    return ok("Putscript completed");
  }
  if (c.name == "CHECKSCRIPT" && n == 1) return ok("Script is valid");
  if (c.name == "HAVESPACE" && n == 2) return ok("Putscript would succeed");
  if (c.name == "SETACTIVE" && n == 1) {
    if (!c.args[0].empty() && st.scripts.count(c.args[0]) == 0) return no("NONEXISTENT", "there is no such script");
    st.active = c.args[0];
    return ok("Setactive completed");
  }
  if (c.name == "DELETESCRIPT" && n == 1) {
    if (st.scripts.count(c.args[0]) == 0) return no("NONEXISTENT", "there is no such script");
    if (st.active == c.args[0]) return no("ACTIVE", "the active script cannot be deleted");
    st.scripts.erase(c.args[0]);
    return ok("Deletescript completed");
  }
  if (c.name == "RENAMESCRIPT" && n == 2) {
    const auto it = st.scripts.find(c.args[0]);
    if (it == st.scripts.end()) return no("NONEXISTENT", "there is no such script");
    if (st.scripts.count(c.args[1]) != 0) return no("ALREADYEXISTS", "a script of that name exists");
    if (!valid_name(c.args[1])) return no({}, "bad script name");
    std::string text = std::move(it->second);
    st.scripts.erase(it);
    st.scripts[c.args[1]] = std::move(text);
    if (st.active == c.args[0]) st.active = c.args[1];
    return ok("Renamescript completed");
  }
  return no({}, "unknown command or wrong number of arguments");
}

}  // namespace

command_handler script_store(std::vector<std::pair<std::string, std::string>> scripts) {
  auto st = std::make_shared<store>();
  for (auto& [name, text] : scripts) st->scripts[name] = std::move(text);
  return [st](const command& c, const session_facts&) { return run(*st, c); };
}

}  // namespace uptls::sieve
