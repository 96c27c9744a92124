// The matrix's reports: a Markdown table per protocol, mode and server, the
// JSON of every cell, and a self-contained HTML page (inline CSS, no script).
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "matrix.hpp"

namespace uptls::cli::matrix {
namespace {

using ojson = nlohmann::ordered_json;

// One short text per cell: "1.3 AES_128_GCM_SHA256", "1.2 ECDHE_RSA AES_128_GCM_SHA256".
std::string short_suite(const facts& f) {
  std::string c = f.cipher;
  if (c.rfind("TLS_", 0) == 0) c.erase(0, 4);
  if (const auto w = c.find("_WITH_"); w != std::string::npos) c.replace(w, 6, " ");
  std::string v = f.version;
  if (v.rfind("TLSv", 0) == 0) v.erase(0, 4);
  return v + " " + c;
}

std::string cell_text(const cell& c) {
  if (!c.got.ran) return c.expect.what == expectation::kind::not_run ? "n/a" : "not run";
  std::string t;
  if (c.got.ok) t = short_suite(c.got.negotiated);
  else if (!c.client_is_peer && !c.got.error.empty()) t = c.got.error;
  else if (c.matched && c.expect.what == expectation::kind::peer_error) t = "refused: " + c.expect.peer_text;
  else t = "refused";
  if (c.got.fell_back) t += " (climbed down)";
  return t;
}

// The outcome class of a cell, the same words in the HTML page and the JSON.
std::string outcome_class(const cell& c) {
  if (!c.got.ran) return "na";
  if (c.got.ok) return c.got.fell_back ? "fallback" : (c.got.negotiated.version == "TLSv1.3" ? "ok13" : "ok12");
  return "refused";
}

struct grid {
  std::string protocol, mode, server;
  std::vector<std::string> rows;  // "client:profile"
  std::map<std::string, std::map<std::string, const cell*>> at;  // row -> config -> cell
};

std::vector<grid> grids(const model& m, const std::vector<cell>& cells) {
  std::vector<grid> out;
  const auto find = [&](const cell& c) -> grid& {
    for (grid& g : out) {
      if (g.protocol == c.protocol && g.mode == c.mode && g.server == c.server) return g;
    }
    out.push_back({c.protocol, c.mode, c.server, {}, {}});
    return out.back();
  };
  for (const cell& c : cells) {
    grid& g = find(c);
    const std::string row = c.client + ":" + c.client_profile;
    if (!g.at.count(row)) g.rows.push_back(row);
    g.at[row][c.server_config] = &c;
  }
  (void)m;
  return out;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (const char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string title_of(const model& m, const std::string& server, bool peer) {
  if (!peer) return server + " (uptls)";
  for (const peer_info& p : m.peer_servers) {
    if (p.id == server) return p.title;
  }
  return server;
}

// The data file as the reader knows it: relative to the current folder when inside it.
std::string shown_path(const std::string& path) {
  std::error_code ec;
  const auto rel = std::filesystem::relative(path, ec);
  if (ec || rel.empty() || rel.string().rfind("..", 0) == 0) return path;
  return rel.string();
}

struct counts {
  std::size_t total = 0, matched = 0, mismatched = 0, not_run = 0;
};
counts count(const std::vector<cell>& cells) {
  counts n;
  for (const cell& c : cells) {
    ++n.total;
    if (!c.got.ran) ++n.not_run;
    if (c.matched) ++n.matched;
    else ++n.mismatched;
  }
  return n;
}

}  // namespace

std::string markdown(const model& m, const std::vector<cell>& cells) {
  std::string out;
  const counts n = count(cells);
  out += "# uptls compatibility matrix\n\n" + std::to_string(n.total) + " cells: " + std::to_string(n.matched) +
         " as expected (" + std::to_string(n.not_run) + " of them not run, by capability), " +
         std::to_string(n.mismatched) + " NOT as expected. Expectations: " + shown_path(m.path) + "\n";
  for (const grid& g : grids(m, cells)) {
    const bool peer = g.at.begin()->second.begin()->second->server_is_peer;
    out += "\n## " + g.protocol + " " + g.mode + ", server: " + title_of(m, g.server, peer) + "\n\n| client |";
    for (const server_config& s : m.server_configs) out += " " + s.title + " |";
    out += "\n|---|";
    for (std::size_t i = 0; i < m.server_configs.size(); ++i) out += "---|";
    out += "\n";
    for (const std::string& row : g.rows) {
      out += "| " + row + " |";
      for (const server_config& s : m.server_configs) {
        const auto it = g.at.at(row).find(s.id);
        if (it == g.at.at(row).end()) {
          out += " |";
          continue;
        }
        out += " " + cell_text(*it->second) + (it->second->matched ? "" : " **MISMATCH**") + " |";
      }
      out += "\n";
    }
  }
  bool any = false;
  for (const cell& c : cells) {
    if (c.matched) continue;
    if (!any) out += "\n## Not as expected\n\n";
    any = true;
    out += "- `" + c.name() + "`: expected " + describe(c.expect) + "; " + c.mismatch + "\n";
  }
  return out;
}

std::string json_report(const model& m, const std::vector<cell>& cells, std::chrono::milliseconds total) {
  const counts n = count(cells);
  ojson j;
  j["data_file"] = m.path;
  j["elapsed_ms"] = total.count();
  j["cells_total"] = n.total;
  j["as_expected"] = n.matched;
  j["not_as_expected"] = n.mismatched;
  j["not_run"] = n.not_run;
  ojson list = ojson::array();
  for (const cell& c : cells) {
    ojson e;
    e["name"] = c.name();
    e["protocol"] = c.protocol;
    e["mode"] = c.mode;
    e["client"] = c.client;
    e["client_profile"] = c.client_profile;
    e["client_is_peer"] = c.client_is_peer;
    e["server"] = c.server;
    e["server_is_peer"] = c.server_is_peer;
    e["server_config"] = c.server_config;
    e["expected"] = describe(c.expect);
    e["rule"] = c.expect.rule;
    e["outcome"] = outcome_class(c);
    ojson g;
    g["ran"] = c.got.ran;
    g["ok"] = c.got.ok;
    if (c.got.ok) {
      g["version"] = c.got.negotiated.version;
      g["cipher"] = c.got.negotiated.cipher;
      g["key_exchange"] = c.got.negotiated.key_exchange;
    }
    if (!c.got.error.empty()) g["error"] = c.got.error;
    if (!c.got.ok && !c.got.peer_text.empty()) g["peer_said"] = c.got.peer_text;
    if (!c.got.detail.empty()) g["detail"] = c.got.detail;
    g["fell_back"] = c.got.fell_back;
    g["ms"] = c.got.elapsed.count();
    e["got"] = g;
    e["matched"] = c.matched;
    if (!c.matched) e["mismatch"] = c.mismatch;
    list.push_back(e);
  }
  j["cells"] = list;
  return j.dump(2) + "\n";
}

std::string html_report(const model& m, const std::vector<cell>& cells, std::chrono::milliseconds total) {
  const counts n = count(cells);
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>uptls compatibility matrix</title>\n"
      "<style>\n"
      "body{font:13px/1.35 system-ui,sans-serif;margin:16px;color:#222;background:#fff}\n"
      "h1{font-size:20px;margin:0 0 6px}h2{font-size:15px;margin:18px 0 6px}\n"
      "table.grid{border-collapse:collapse}\n"
      ".grid th,.grid td{border:1px solid #bbb;padding:3px 6px;vertical-align:top}\n"
      ".grid th{background:#eee;font-weight:600;text-align:left}\n"
      "td.cell{min-width:120px;font-family:ui-monospace,monospace;font-size:11px}\n"
      ".ok13{background:#b7e4b0}.ok12{background:#dcf2c4}.fallback{background:#ffe39a}\n"
      ".refused{background:#c9dcf5}.na{background:#e4e4e4;color:#666}\n"
      "td.mismatch{background:#f4a0a0;outline:3px solid #c00;outline-offset:-3px}\n"
      ".verdict{display:block;font-family:system-ui,sans-serif;font-size:10px;color:#444}\n"
      ".legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #bbb}\n"
      "</style></head><body>\n<h1>uptls compatibility matrix</h1>\n<p id=\"summary\">" +
      std::to_string(n.total) + " cells: <b>" + std::to_string(n.matched) + "</b> as expected (" +
      std::to_string(n.not_run) + " not run, by capability), <b id=\"mismatches\">" + std::to_string(n.mismatched) +
      "</b> not as expected; " + std::to_string(total.count()) + " ms. Expectations: <code>" + html_escape(shown_path(m.path)) +
      "</code>. Hover a cell for its expectation.</p>\n"
      "<p class=\"legend\"><span class=\"ok13\">TLS 1.3</span><span class=\"ok12\">TLS 1.2</span>"
      "<span class=\"fallback\">TLS after the ladder climbed down</span><span class=\"refused\">refused (the errc or "
      "the peer's words)</span><span class=\"na\">not run: capability</span><span class=\"mismatch\" "
      "style=\"background:#f4a0a0;outline:2px solid #c00\">not as expected</span></p>\n";
  for (const grid& g : grids(m, cells)) {
    const bool peer = g.at.begin()->second.begin()->second->server_is_peer;
    o += "<h2>" + html_escape(g.protocol + " " + g.mode + " (" + m.mode_titles.at(g.mode) + "), server: " +
                              title_of(m, g.server, peer)) +
         "</h2>\n<table class=\"grid\"><tr><th>client : profile</th>";
    for (const server_config& s : m.server_configs) o += "<th>" + html_escape(s.title) + "</th>";
    o += "</tr>\n";
    for (const std::string& row : g.rows) {
      o += "<tr><th>" + html_escape(row) + "</th>";
      for (const server_config& s : m.server_configs) {
        const auto it = g.at.at(row).find(s.id);
        if (it == g.at.at(row).end()) {
          o += "<td></td>";
          continue;
        }
        const cell& c = *it->second;
        std::string tip = "expected: " + describe(c.expect) + "\ngot: " + describe(c.got);
        if (!c.got.detail.empty()) tip += "\n" + c.got.detail;
        if (!c.got.ok && c.client_is_peer && !c.got.peer_text.empty()) {
          tip += "\n" + c.got.peer_text.substr(c.got.peer_text.size() > 300 ? c.got.peer_text.size() - 300 : 0);
        }
        o += "<td class=\"cell " + outcome_class(c) + (c.matched ? " match" : " mismatch") + "\" data-cell=\"" +
             html_escape(c.name()) + "\" title=\"" + html_escape(tip) + "\">" + html_escape(cell_text(c)) +
             "<span class=\"verdict\">" + (c.matched ? "as expected" : "NOT AS EXPECTED: " + html_escape(c.mismatch)) +
             "</span></td>";
      }
      o += "</tr>\n";
    }
    o += "</table>\n";
  }
  o += "</body></html>\n";
  return o;
}

}  // namespace uptls::cli::matrix
