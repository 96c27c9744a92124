// The `uptls matrix` command: its arguments and its entry point.
#pragma once

#include <string>
#include <vector>

namespace uptls::cli {

struct matrix_args {
  std::string expect;  // the data file
  std::string certs;   // the test certificates
  std::string json, html;
  std::vector<std::string> only;  // KEY=VALUE[,VALUE...]
  int jobs = 8;
  double timeout = 10;
  bool list = false, quiet = false;
};

// An error text for a bad --only filter, empty when it is good.
std::string check_matrix_filter(const std::string& filter);

// Exit status 0 when every cell was as expected, 1 when one was not, 2 for a
// bad data file, missing certificates or a missing real peer (named by package).
int run_matrix(const matrix_args& a);

}  // namespace uptls::cli
