// `uptls matrix`: load the data file, pick the cells, run them, compare, report.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "exit_code.hpp"
#include "matrix.hpp"
#include "matrix_cmd.hpp"

namespace uptls::cli {
namespace {

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

// "client=openssl,gnutls": the cell's value of that dimension is one of them.
bool selected(const matrix::cell& c, const std::vector<std::string>& only) {
  for (const std::string& f : only) {
    const std::size_t eq = f.find('=');
    const std::string key = f.substr(0, eq), values = "," + f.substr(eq + 1) + ",";
    const std::string have = key == "protocol" ? c.protocol
                             : key == "mode"   ? c.mode
                             : key == "client" ? c.client
                             : key == "client_profile" ? c.client_profile
                             : key == "server"         ? c.server
                                                       : c.server_config;
    if (values.find("," + have + ",") == std::string::npos) return false;
  }
  return true;
}

}  // namespace

std::string check_matrix_filter(const std::string& f) {
  const std::size_t eq = f.find('=');
  if (eq == std::string::npos || eq + 1 == f.size()) return "--only takes KEY=VALUE[,VALUE...], not '" + f + "'";
  const std::string key = f.substr(0, eq);
  for (const char* k : {"protocol", "mode", "client", "client_profile", "server", "server_config"}) {
    if (key == k) return {};
  }
  return "--only: no dimension '" + key + "'; the dimensions are protocol, mode, client, client_profile, server, server_config";
}

int run_matrix(const matrix_args& a) {
  const auto start = std::chrono::steady_clock::now();
  matrix::model m;
  std::vector<matrix::cell> cells;
  try {
    m = matrix::load_model(a.expect);
    for (matrix::cell& c : matrix::enumerate(m)) {
      if (selected(c, a.only)) cells.push_back(std::move(c));
    }
  } catch (const std::exception& e) {
    std::cerr << "uptls matrix: " << e.what() << "\n";
    return exit_usage;
  }
  if (cells.empty()) {
    std::cerr << "uptls matrix: no cell matches the --only filters\n";
    return exit_usage;
  }
  if (a.list) {
    std::cout << matrix::expectation_list(m, cells);
    return exit_ok;
  }
  if (!std::filesystem::exists(a.certs + "/ca.pem")) {
    std::cerr << "uptls matrix: --certs " << a.certs
              << ": no ca.pem there; give the folder of the test certificates (tools/make-test-certs.sh DIR makes them)\n";
    return exit_usage;
  }
  matrix::run_options o;
  o.certs = a.certs;
  o.helpers = std::filesystem::path(a.expect).parent_path().string();
  if (o.helpers.empty()) o.helpers = ".";
  o.jobs = a.jobs;
  o.timeout = std::chrono::milliseconds(static_cast<long long>(a.timeout * 1000));
  try {
    matrix::run_cells(m, cells, o);
  } catch (const std::exception& e) {
    std::cerr << "uptls matrix: " << e.what() << "\n";
    return exit_usage;
  }
  const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::size_t bad = 0;
  for (const matrix::cell& c : cells) bad += c.matched ? 0 : 1;

  if (!a.quiet) std::cout << matrix::markdown(m, cells);
  std::cout << "\n" << cells.size() << " cells, " << (cells.size() - bad) << " as expected, " << bad
            << " not as expected, in " << total.count() << " ms\n";
  for (const matrix::cell& c : cells) {
    if (!c.matched) std::cerr << "NOT AS EXPECTED " << c.name() << ": expected " << describe(c.expect) << "; " << c.mismatch << "\n";
  }
  if (!a.json.empty() && !write_file(a.json, matrix::json_report(m, cells, total))) {
    std::cerr << "uptls matrix: cannot write " << a.json << "\n";
    return exit_usage;
  }
  if (!a.html.empty()) {
    if (!write_file(a.html, matrix::html_report(m, cells, total))) {
      std::cerr << "uptls matrix: cannot write " << a.html << "\n";
      return exit_usage;
    }
    std::cout << "page: " << std::filesystem::absolute(a.html).string() << "\n";
  }
  return bad == 0 ? exit_ok : exit_failed;
}

}  // namespace uptls::cli
