#include "prelude.hpp"

#include <utility>

namespace uptls::imap {
namespace detail {

result<> prelude_machine::resume(stream& s) {
  // Bounded: each round moves to a later step or returns.
  for (int round = 0; round < 8; ++round) {
    switch (step_) {
      case step::finished:
        return outcome_;
      case step::greeting: {
        // Before TLS nothing needs a literal: a big one is an attack on memory.
        const result<> r = reader_.read(s, max_plaintext_literal, last_, opts_.trace);
        if (!r) return r.would_block() ? r : finish(r);
        if (last_.tag != "*") return finish(errc::protocol_error);
        const std::string_view status = first_word(last_.text);
        // PREAUTH: already logged in, in plaintext; STARTTLS is only allowed in the
        // not-authenticated state (RFC 9051 6.2.1), so TLS can never follow.
        if (iequals(status, "PREAUTH")) return finish(errc::preauthenticated);
        if (!iequals(status, "OK")) return finish(errc::protocol_error);  // BYE: the server refuses us
        have_caps_ = parse_capabilities(last_.text, caps_);
        step_ = have_caps_ && has_capability(caps_, "STARTTLS") ? step::starttls : step::capability;
        // A greeting that lists capabilities without STARTTLS is asked once more:
        // CAPABILITY is the authoritative list.
        break;
      }
      case step::capability: {
        // The untagged list lands in caps_ at once: a resumed call must not lose it.
        const result<> r = command_.run(s, "CAPABILITY", opts_, max_plaintext_literal, last_,
                                        [this](const response& u) -> std::error_code {
                                          if (iequals(first_word(u.text), "BYE")) return make_error_code(errc::protocol_error);
                                          if (parse_capabilities(u.text, caps_)) have_caps_ = true;
                                          return {};
                                        });
        if (!r) return r.would_block() ? r : finish(r);
        if (!iequals(first_word(last_.text), "OK")) return finish(errc::protocol_error);
        if (std::vector<std::string> code; parse_capabilities(last_.text, code)) caps_ = std::move(code);
        if (!has_capability(caps_, "STARTTLS")) return finish(errc::starttls_not_offered);
        step_ = step::starttls;
        break;
      }
      case step::starttls: {
        // Untagged responses before the tagged reply are read and dropped: nothing
        // said in plaintext is kept. The reader stops at the end of the tagged
        // line; whatever the stream read beyond it stays buffered, and start_tls()
        // refuses it as an injection.
        const result<> r = command_.run(s, "STARTTLS", opts_, max_plaintext_literal, last_,
                                        [](const response& u) -> std::error_code {
                                          if (iequals(first_word(u.text), "BYE")) return make_error_code(errc::starttls_refused);
                                          return {};
                                        });
        if (!r) return r.would_block() ? r : finish(r);
        const std::string_view status = first_word(last_.text);
        if (iequals(status, "NO") || iequals(status, "BAD")) return finish(errc::starttls_refused);
        if (!iequals(status, "OK")) return finish(errc::protocol_error);
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

}  // namespace uptls::imap
