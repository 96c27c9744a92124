#!/bin/sh
# Builds the API reference with Doxygen into OUT/html (default build/docs) and
# fails on any warning (the Doxyfile sets WARN_AS_ERROR), so an undocumented
# public item stops it. Used by `./dev docs` and by the api-reference test.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/docs}
if ! command -v doxygen >/dev/null 2>&1; then
  echo "doxygen not found: install the Debian package doxygen (./dev setup installs it)" >&2
  exit 1
fi
version=$(sed -n "s/^  version: '\([^']*\)'.*/\1/p" "$top/meson.build")
mkdir -p "$out"
rm -rf "$out/html"
log="$out/warnings.log"
cd "$top"
status=0
UPTLS_DOCS_OUT="$out" UPTLS_VERSION="$version" doxygen Doxyfile >"$log" 2>&1 || status=$?
if [ $status -ne 0 ] || grep -q . "$log"; then
  cat "$log" >&2
  echo "the API reference has warnings (above): every public item needs a /// comment" >&2
  exit 1
fi
[ -f "$out/html/index.html" ] || { echo "doxygen wrote no $out/html/index.html" >&2; exit 1; }
echo "API reference: $out/html/index.html"
