#include "prelude.hpp"

#include <utility>

namespace uptls::pop3 {
namespace detail {

result<> capa_exchange::run(stream& s, response& r, std::vector<std::string>& caps, const trace_fn& trace) {
  if (!listing_) {
    const result<> got = exchange_.run(s, "CAPA", r, trace);
    if (!got) return got;
    if (!r.ok) {
      // RFC 2449 5: a server without CAPA answers -ERR; it offers no extension.
      caps.clear();
      return {};
    }
    listing_ = true;
  }
  const result<> got = list_.read(s, caps, max_capabilities, trace);
  if (!got.would_block()) listing_ = false;
  return got;
}

result<> prelude_machine::resume(stream& s) {
  // Bounded: each round moves to a later step or returns.
  for (int round = 0; round < 4; ++round) {
    switch (step_) {
      case step::finished:
        return outcome_;
      case step::greeting: {
        const result<> r = read_status(s, last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (!last_.ok) return finish(errc::protocol_error);
        step_ = step::capa;
        break;
      }
      case step::capa: {
        const result<> r = capa_.run(s, last_, caps_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (!offers(caps_, "STLS")) return finish(errc::starttls_not_offered);
        step_ = step::stls;
        break;
      }
      case step::stls: {
        // read_status stops at the end of the +OK line; whatever the stream read
        // beyond it stays buffered, and start_tls() refuses it as an injection.
        const result<> r = exchange_.run(s, "STLS", last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (!last_.ok) return finish(errc::starttls_refused);
        return finish({});
      }
    }
  }
  return finish(errc::internal);
}

}  // namespace detail

class starttls_dialogue::impl {
 public:
  explicit impl(client_options opts) : opts_(std::move(opts)), machine_(opts_) {}
  client_options opts_;
  detail::prelude_machine machine_;
};

starttls_dialogue::starttls_dialogue(client_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
starttls_dialogue::~starttls_dialogue() = default;
starttls_dialogue::starttls_dialogue(starttls_dialogue&&) noexcept = default;
starttls_dialogue& starttls_dialogue::operator=(starttls_dialogue&&) noexcept = default;
result<> starttls_dialogue::resume(stream& s) { return impl_->machine_.resume(s); }
const std::vector<std::string>& starttls_dialogue::capabilities() const noexcept {
  return impl_->machine_.capabilities();
}
const response& starttls_dialogue::last_response() const noexcept { return impl_->machine_.last_response(); }

prelude starttls_prelude(client_options opts) {
  return [opts = std::move(opts)] { return std::make_unique<starttls_dialogue>(opts); };
}

}  // namespace uptls::pop3
