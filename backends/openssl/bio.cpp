#include "bio.hpp"

#include <gsl/assert>
#include <span>

namespace uptls::ossl {
namespace {

bio_state& state_of(BIO* b) { return *static_cast<bio_state*>(BIO_get_data(b)); }

// would_block becomes a retry flag (SSL_ERROR_WANT_*) and -1, as a socket BIO
// says it: some of OpenSSL's paths treat only -1 as "try again" (SSL_shutdown
// takes a 0 from a blocked alert write for "sent", and the close_notify is
// lost). eof and errors become a plain failure (0), and the engine looks at
// bio_state to tell them apart.
int transport_read(BIO* b, char* data, std::size_t len, std::size_t* got) {
  BIO_clear_retry_flags(b);
  *got = 0;
  bio_state& st = state_of(b);
  if (len == 0) return 0;
  const result<std::size_t> r = st.io->read_some(std::as_writable_bytes(std::span(data, len)));
  if (r.ok() && *r > 0) {
    *got = *r;
    return 1;
  }
  if (r.would_block()) {
    BIO_set_retry_read(b);
    return -1;
  }
  if (r.ok()) {
    if (!st.error) st.eof = true;
  } else if (!st.eof && !st.error) {
    st.error = r.error();
  }
  return 0;
}

int transport_write(BIO* b, const char* data, std::size_t len, std::size_t* put) {
  BIO_clear_retry_flags(b);
  *put = 0;
  bio_state& st = state_of(b);
  if (len == 0) return 0;
  const result<std::size_t> r = st.io->write_some(std::as_bytes(std::span(data, len)));
  if (r.ok()) {
    *put = *r;
    return 1;
  }
  if (r.would_block()) {
    BIO_set_retry_write(b);
    return -1;
  }
  // After the peer's end of stream OpenSSL still tries to send an alert; that
  // failing is a consequence, not the cause, so the first event is kept.
  if (!st.eof && !st.error) st.error = r.error();
  return 0;
}

long transport_ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // writes go straight to the transport: nothing is held back
    case BIO_CTRL_EOF:
      // OpenSSL 3 asks this to tell an unexpected EOF from an I/O error.
      return state_of(b).eof ? 1 : 0;
    default:
      return 0;
  }
}

int transport_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int transport_destroy(BIO* b) {
  BIO_set_data(b, nullptr);  // the engine owns the state
  return 1;
}

// One method table for the whole process; OpenSSL keeps a pointer to it in every
// BIO, so it is never freed.
const BIO_METHOD* transport_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "uptls transport");
    if (m == nullptr) return m;
    BIO_meth_set_read_ex(m, transport_read);
    BIO_meth_set_write_ex(m, transport_write);
    BIO_meth_set_ctrl(m, transport_ctrl);
    BIO_meth_set_create(m, transport_create);
    BIO_meth_set_destroy(m, transport_destroy);
    return m;
  }();
  return method;
}

}  // namespace

BIO* make_transport_bio(bio_state& state) {
  Expects(state.io != nullptr);
  const BIO_METHOD* m = transport_method();
  if (m == nullptr) return nullptr;
  BIO* b = BIO_new(m);
  if (b != nullptr) BIO_set_data(b, &state);
  return b;
}

}  // namespace uptls::ossl
