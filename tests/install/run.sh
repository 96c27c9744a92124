#!/bin/sh
# Installs uptls into a staging folder (DESTDIR) from a fresh build of this tree,
# then builds a consumer with nothing but `pkg-config --cflags --libs uptls`,
# linked against the shared library and against the static one, and runs a
# STARTTLS session with each. Checks the soname and that the installed headers
# hold no backend-author interface and no third-party header.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "install test: $*" >&2; exit 1; }

meson setup "$scratch/build" "$src" --prefix=/usr/local --libdir=lib -Dtests=disabled -Dtools=disabled \
  -Dexamples=disabled -Dbenchmarks=disabled >"$scratch/setup.log" 2>&1 || { cat "$scratch/setup.log"; exit 1; }
ninja -C "$scratch/build" >"$scratch/build.log" 2>&1 || { cat "$scratch/build.log"; exit 1; }
DESTDIR="$scratch/stage" meson install -C "$scratch/build" --quiet >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; exit 1; }
root="$scratch/stage/usr/local"

# The library, with its version and soname.
[ -f "$root/lib/libuptls.a" ] || fail "no static library installed"
[ -f "$root/lib/libuptls.so.0.2.0" ] || fail "no versioned shared library installed: $(ls "$root/lib")"
soname=$(readelf -d "$root/lib/libuptls.so.0.2.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libuptls.so.0" ] || fail "soname is '$soname', not libuptls.so.0"

# The user headers only: no engine or context internals, no GSL, no backend headers.
[ -f "$root/include/uptls/uptls.hpp" ] || fail "headers not installed"
[ ! -e "$root/include/uptls/engine.hpp" ] || fail "the backend-author engine.hpp was installed"
if grep -rlE '#include [<"](gsl/|openssl/|gnutls/|mbedtls/|engine/)' "$root/include/uptls"; then
  fail "an installed header includes a third-party or internal header (above)"
fi

export PKG_CONFIG_PATH="$root/lib/pkgconfig"
pkg-config --exists uptls || fail "uptls.pc is not found in $PKG_CONFIG_PATH"
cflags=$(pkg-config --define-prefix --cflags uptls)
libs=$(pkg-config --define-prefix --libs uptls)
# Static libuptls.a with the system's TLS libraries shared, as most static users
# link: uptls's private requirements (not theirs, recursively: --static would ask
# for a static GnuTLS and all of its own dependencies).
requires=$(pkg-config --print-requires-private uptls | cut -d' ' -f1 | tr '\n' ' ')
private=$(sed -n 's/^Libs.private: //p' "$PKG_CONFIG_PATH/uptls.pc")
static_libs="$(pkg-config --define-prefix --libs-only-L uptls) -l:libuptls.a $private $(pkg-config --libs $requires)"
# Each installed header compiles on its own (asio.hpp needs Asio, which is optional).
for h in "$root"/include/uptls/*.hpp; do
  name=$(basename "$h")
  [ "$name" = asio.hpp ] && [ ! -f /usr/include/asio.hpp ] && continue
  printf '#include <uptls/%s>\nint main() { return 0; }\n' "$name" >"$scratch/one.cpp"
  c++ -std=c++20 -fsyntax-only $cflags "$scratch/one.cpp" || fail "uptls/$name does not compile on its own"
done

sh "$src/tools/make-test-certs.sh" "$scratch/certs" >/dev/null
c++ -std=c++20 "$src/tests/install/consumer.cpp" $cflags $libs -o "$scratch/consumer-shared" || fail "shared link failed"
c++ -std=c++20 "$src/tests/install/consumer.cpp" $cflags $static_libs -o "$scratch/consumer-static" || fail "static link failed"
if readelf -d "$scratch/consumer-static" | grep -q 'libuptls.so'; then fail "the static consumer needs libuptls.so"; fi
for kind in shared static; do
  LD_LIBRARY_PATH="$root/lib" "$scratch/consumer-$kind" "$scratch/certs/ca.pem" "$scratch/certs/server-rsa.pem" \
    "$scratch/certs/server-rsa.key" || fail "the $kind consumer's STARTTLS session failed"
done
echo "install ok: soname $soname, pkg-config: $cflags $libs"
