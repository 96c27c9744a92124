// Errors that carry the SMTP reply code the server refused a command with.
#include <string>

#include "uptls/smtp.hpp"

namespace uptls::smtp {
namespace {

class reply_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "smtp"; }
  std::string message(int code) const override {
    return "the SMTP server refused the command with reply " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& reply_category() noexcept {
  static const reply_category_impl instance;
  return instance;
}

std::error_code make_reply_error(int code) noexcept { return {code, reply_category()}; }

}  // namespace uptls::smtp
