#include "prelude.hpp"

#include <utility>

namespace uptls::smtp {
namespace detail {

result<> prelude_machine::resume(stream& s) {
  // Bounded: each round moves to a later step or returns.
  for (int round = 0; round < 8; ++round) {
    switch (step_) {
      case step::finished:
        return outcome_;
      case step::check:
        // Checked before anything is read or sent.
        if (!valid_ehlo_name(opts_.ehlo_name)) return finish(errc::usage);
        step_ = step::greeting;
        break;
      case step::greeting: {
        const result<> r = reader_.read(s, last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (last_.code != 220) return finish(errc::protocol_error);
        step_ = step::hello;
        break;
      }
      case step::hello: {
        const result<> r = exchange_.run(s, std::string(hello_verb(opts_.proto)) + " " + opts_.ehlo_name, last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        // 421 and 221 mean the server is closing the session (RFC 5321 3.8):
        // nothing more may be said, in any mode.
        if (last_.code == 421 || last_.code == 221) return finish(make_reply_error(last_.code));
        if (last_.code != 250) {
          // A server that refuses EHLO has no extensions, so no STARTTLS either.
          ehlo_refused_ = true;
          return finish(errc::starttls_not_offered);
        }
        caps_ = keywords(last_);
        if (!offers(caps_, "STARTTLS")) return finish(errc::starttls_not_offered);
        step_ = step::starttls;
        break;
      }
      case step::starttls: {
        // The reply reader stops at the end of the 220 reply; whatever the stream
        // read beyond it stays buffered, and start_tls() refuses it as an injection.
        const result<> r = exchange_.run(s, "STARTTLS", last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (last_.code == 421) return finish(make_reply_error(last_.code));
        if (last_.code != 220) return finish(errc::starttls_refused);
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
const reply& starttls_dialogue::last_reply() const noexcept { return impl_->machine_.last_reply(); }

prelude starttls_prelude(client_options opts) {
  return [opts = std::move(opts)] { return std::make_unique<starttls_dialogue>(opts); };
}

}  // namespace uptls::smtp
