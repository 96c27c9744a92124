#!/bin/sh
# The API reference cannot rot: docs/reference.sh (what ./dev docs runs) must
# pass on this tree, and must fail, naming the item, on a copy of the headers
# with one public function left undocumented.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "api-reference: $*" >&2; exit 1; }

# Every installed header is in the reference: a header left out of the Doxyfile's
# INPUT would escape the undocumented-item check.
for h in "$src"/include/uptls/*.hpp; do
  rel=include/uptls/$(basename "$h")
  grep -q "^[[:space:]]*\(INPUT[[:space:]]*=[[:space:]]*\)\?$rel" "$src/Doxyfile" || fail "$rel is not in the Doxyfile's INPUT"
done

"$src/docs/reference.sh" "$scratch/out" >"$scratch/ok.log" 2>&1 || { cat "$scratch/ok.log"; fail "the reference of this tree has warnings"; }
[ -f "$scratch/out/html/namespaceuptls.html" ] || fail "no page for namespace uptls"
grep -q "start_tls" "$scratch/out/html/classuptls_1_1stream.html" || fail "the stream page does not document start_tls"

# The negative case: one undocumented public function in a copy of the tree.
mkdir -p "$scratch/tree/include" "$scratch/tree/docs"
cp "$src/Doxyfile" "$src/meson.build" "$scratch/tree/"
cp -r "$src/include/uptls" "$scratch/tree/include/"
cp "$src/docs/reference.sh" "$src/docs/architecture.md" "$scratch/tree/docs/"
printf 'namespace uptls {\nint undocumented_probe(int x);\n}\n' >>"$scratch/tree/include/uptls/trace.hpp"
if "$scratch/tree/docs/reference.sh" "$scratch/bad" >"$scratch/bad.log" 2>&1; then
  cat "$scratch/bad.log"
  fail "an undocumented public function passed the check"
fi
grep -q "undocumented_probe.*not documented" "$scratch/bad.log" || { cat "$scratch/bad.log"; fail "the failure does not name the undocumented function"; }
grep -q "peer_certificate" "$scratch/out/html/structuptls_1_1session__info.html" || fail "the session_info page does not document peer_certificate"
echo "api-reference ok: every public header is in it, it builds without warnings, and an undocumented item fails it"
