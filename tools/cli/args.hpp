// A small command-line parser: "--name value" options, "--flag" switches and
// positional words, each known option declared before parsing.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace uptls::cli {

class args {
 public:
  // Declares "--name VALUE" (count values follow it) and "--flag" (count 0).
  args& option(const std::string& name, int count = 1) {
    known_[name] = count;
    return *this;
  }
  // Parses argv[first..]; false (and error() says why) on an unknown option or a missing value.
  bool parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      const auto it = known_.find(a);
      if (it == known_.end()) return fail("unknown option " + a);
      std::vector<std::string> values;
      for (int k = 0; k < it->second; ++k) {
        if (++i >= argc) return fail(a + " needs " + std::to_string(it->second) + " value(s)");
        values.emplace_back(argv[i]);
      }
      given_[a] = std::move(values);
    }
    return true;
  }

  bool has(const std::string& name) const { return given_.count(name) > 0; }
  // The first value of an option, or fallback.
  std::string get(const std::string& name, const std::string& fallback = {}) const {
    const auto it = given_.find(name);
    return it == given_.end() || it->second.empty() ? fallback : it->second.front();
  }
  const std::vector<std::string>& values(const std::string& name) const { return given_.at(name); }
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  std::map<std::string, int> known_;
  std::map<std::string, std::vector<std::string>> given_;
  std::vector<std::string> positional_;
  std::string error_;
};

}  // namespace uptls::cli
