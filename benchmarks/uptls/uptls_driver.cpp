// uptls through its public API only: a backend picked at run time with
// uptls::find_backend, profiles instead of cipher strings, uptls::stream on a
// socket_transport for every connection.
#include <optional>
#include <string>

#include "bench.hpp"
#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace bench {
namespace {

// Blocking streams (the default mode) with the per-call bound the drivers had
// before the resumable API: a broken peer ends a run, never hangs it.
uptls::stream_options stream_opts() {
  uptls::stream_options o = uptls::smtp::line_limits();
  o.io_timeout = std::chrono::seconds(20);
  return o;
}

std::string explain(std::error_code ec, const uptls::failure_info* why = nullptr) {
  std::string out = ec.message() + " (" + std::string(ec.category().name()) + ")";
  if (why != nullptr && !why->text.empty()) out += ": " + why->text;
  return out;
}

// Every call here is on a blocking stream, so it is ok or failed, never would-block;
// a would-block would be a broken driver and is reported as one.
void check(const uptls::result<>& r, const std::string& what, const uptls::failure_info* why = nullptr) {
  if (r.ok()) return;
  if (r.would_block()) fail(what + ": would block on a blocking stream (" + uptls::to_string(r) + ")");
  fail(what + ": " + explain(r.error(), why));
}

class uptls_connection final : public connection {
 public:
  uptls_connection(int fd, std::shared_ptr<const uptls::context> ctx, uptls::peer_options peer, bool smtp_library)
      : s_(std::in_place, std::make_unique<uptls::socket_transport>(fd), stream_opts()),
        ctx_(std::move(ctx)),
        peer_(std::move(peer)),
        smtp_library_(smtp_library) {}

  void write_plain(std::string_view text) override { check(st().write(text), "write"); }
  std::string read_line_plain() override { return read_line(); }
  void start_tls() override { check(st().start_tls(ctx_, peer_), "handshake", &st().last_failure()); }
  std::size_t read(std::span<std::byte> buf) override {
    auto r = st().read_some(buf);
    if (!r) check(r.status(), "read", &st().last_failure());
    return *r;
  }
  void write(std::span<const std::byte> buf) override { check(st().write(buf), "write"); }
  std::string read_line() override {
    auto r = st().read_line();
    if (!r) check(r.status(), "read_line", &st().last_failure());
    return std::string(*r);
  }
  facts negotiated() override {
    const uptls::session_info* i = st().session();
    if (i == nullptr) fail("no session");
    const std::string group = i->group == uptls::named_group::none ? "" : std::string(uptls::to_string(i->group));
    return {std::string(uptls::to_string(i->version)), i->suite.name, group, i->resumed};
  }
  void close() override {
    if (s_ || client_) (void)st().close();
  }

  // With --smtp-library the starttls case runs uptls::smtp's own dialogues.
  void smtp_serve(const smtp_script& script) override {
    if (!smtp_library_) return connection::smtp_serve(script);
    uptls::smtp::server_options opts;
    opts.tls = ctx_;
    uptls::stream s = std::move(*s_);
    s_.reset();
    check(uptls::smtp::serve(std::move(s), opts, [](const uptls::smtp::message&) {}), "smtp::serve");
  }
  void smtp_open(const smtp_script& script) override {
    if (!smtp_library_) return connection::smtp_open(script);
    client_ = std::make_unique<uptls::smtp::client>(std::move(*s_), uptls::smtp::client_options{});
    s_.reset();
    check(client_->open(ctx_, peer_), "smtp::client::open", &st().last_failure());
  }
  void smtp_quit(const smtp_script& script) override {
    if (!smtp_library_) return connection::smtp_quit(script);
    check(client_->quit(), "smtp::client::quit");
  }

 private:
  uptls::stream& st() { return client_ ? client_->connection() : *s_; }

  std::optional<uptls::stream> s_;
  // Only in --smtp-library runs: a member would add its size to every idle connection.
  std::unique_ptr<uptls::smtp::client> client_;
  std::shared_ptr<const uptls::context> ctx_;
  uptls::peer_options peer_;
  bool smtp_library_;
};

class uptls_endpoint final : public endpoint {
 public:
  uptls_endpoint(std::shared_ptr<const uptls::context> ctx, uptls::peer_options peer, bool smtp_library)
      : ctx_(std::move(ctx)), peer_(std::move(peer)), smtp_library_(smtp_library) {}
  std::unique_ptr<connection> attach(int fd) override {
    return std::make_unique<uptls_connection>(fd, ctx_, peer_, smtp_library_);
  }

 private:
  std::shared_ptr<const uptls::context> ctx_;
  uptls::peer_options peer_;
  bool smtp_library_;
};

class uptls_impl final : public implementation {
 public:
  uptls_impl() {
    const auto all = uptls::backends();
    if (!all.empty()) backend_ = all.front();
  }
  std::string name() const override { return "uptls"; }
  std::string library() const override { return backend_ ? std::string(backend_->name()) : "none"; }
  std::string library_version() const override {
    return backend_ ? std::string(backend_->library_version()) : "";
  }
  void select(const std::string& lib) override {
    backend_ = uptls::find_backend(lib);
    if (backend_ == nullptr) throw unsupported("uptls has no '" + lib + "' backend in this build");
  }
  void describe(json& out) const override {
    std::string list = "[";
    for (const uptls::backend* b : uptls::backends()) {
      const uptls::capabilities& c = b->caps();
      json one;
      one.set("name", std::string(b->name()))
          .set("version", std::string(b->library_version()))
          .set("tls13", c.tls13)
          .set("rsa_key_exchange", c.rsa_key_exchange)
          .set("resumption", c.resumption)
          .set("release_buffers", c.release_buffers)
          .set("chacha20", c.chacha20);
      list += (list.size() > 1 ? ", " : "") + one.text();
    }
    out.set_json("backends", list + "]");
  }

  std::unique_ptr<endpoint> make_server(const setup& s) override {
    if (s.rsa_kx) {
      // uptls has no RSA-only server profile (legacy keeps ECDHE first): the peer is
      // the same library's raw RSA-only server, in both runs of the pair.
      implementation* raw = find_raw(library());
      if (raw == nullptr) throw unsupported("no raw " + library() + " baseline built for the RSA-only server");
      return raw->make_server(s);
    }
    uptls::tls_config cfg = common(s);
    cfg.cert_file = s.certs + "/" + s.leaf + ".pem";
    cfg.key_file = s.certs + "/" + s.leaf + ".key";
    cfg.resumption = true;  // the default: servers issue tickets in every case, as the baselines do
    return std::make_unique<uptls_endpoint>(compile(cfg, uptls::role::server), uptls::peer_options{}, s.smtp_library);
  }

  std::unique_ptr<endpoint> make_client(const setup& s) override {
    uptls::tls_config cfg = common(s);
    cfg.ca_file = s.certs + "/ca.pem";
    cfg.resumption = s.resumption;
    if (s.rsa_kx) {
      if (!caps().rsa_key_exchange) throw unsupported("backend has no RSA key exchange");
      cfg.security = uptls::profile::legacy;
    }
    if (s.version == tls_ver::tls13) cfg.min_version = uptls::tls_version::tls1_3;
    if (s.version == tls_ver::tls12) cfg.max_version = uptls::tls_version::tls1_2;
    return std::make_unique<uptls_endpoint>(compile(cfg, uptls::role::client), uptls::peer_options{s.host},
                                            s.smtp_library);
  }

 private:
  const uptls::capabilities& caps() const {
    if (backend_ == nullptr) fail("no backend");
    return backend_->caps();
  }

  uptls::tls_config common(const setup& s) const {
    if (s.cipher) throw unsupported("uptls picks suites by profile: tls_config has no cipher pin");
    if (s.version == tls_ver::tls13 && !caps().tls13) throw unsupported("backend has no TLS 1.3");
    if (s.resumption && !caps().resumption) throw unsupported("backend has no session resumption");
    if (s.release_buffers && !caps().release_buffers) throw unsupported("backend has no release_buffers switch");
    uptls::tls_config cfg;
    cfg.release_buffers = s.release_buffers;
    return cfg;
  }

  std::shared_ptr<const uptls::context> compile(const uptls::tls_config& cfg, uptls::role side) const {
    auto made = backend_->make_context(cfg, side);
    if (made) return std::move(made).value();
    if (made.error() == uptls::errc::unsupported) throw unsupported("backend refused the config: unsupported");
    fail("make_context: " + explain(made.error()));
  }

  const uptls::backend* backend_ = nullptr;
};

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::uptls_impl impl;
  return bench::main(argc, argv, impl);
}
