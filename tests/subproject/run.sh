#!/bin/sh
# Builds two projects that embed uptls, in scratch folders, and runs them:
#  - consumer: uptls as subprojects/uptls (a link to this tree); werror and its
#    own warning level, which uptls must not change; uptls builds nothing but the
#    library there (no tests, tools, benchmarks or examples);
#  - consumer-wrap: uptls through subprojects/uptls.wrap (a git wrap, pointed at
#    this repository's committed HEAD), choosing the OpenSSL backend only.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "subproject test: $*" >&2; exit 1; }

cp -r "$src/tests/subproject/consumer" "$scratch/consumer"
mkdir -p "$scratch/consumer/subprojects"
ln -s "$src" "$scratch/consumer/subprojects/uptls"
cd "$scratch/consumer"
meson setup build >setup.log 2>&1 || { cat setup.log; exit 1; }
ninja -C build >build.log 2>&1 || { cat build.log; exit 1; }
./build/consumer
if find build/subprojects/uptls \( -name 'test-*' -o -name 'uptls-demo-*' -o -name 'bench-*' -o -name uptls -type f \) | grep -q .; then
  fail "uptls built its own tests, tools, benchmarks or examples inside a parent project"
fi

if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  cp -r "$src/tests/subproject/consumer-wrap" "$scratch/consumer-wrap"
  sed -i "s|^url = .*|url = file://$src|" "$scratch/consumer-wrap/subprojects/uptls.wrap"
  cd "$scratch/consumer-wrap"
  meson setup build >setup.log 2>&1 || { cat setup.log; exit 1; }
  ninja -C build >build.log 2>&1 || { cat build.log; exit 1; }
  ./build/consumer || fail "the parent's backend choice did not reach uptls"
else
  echo "subproject test: not a git checkout, the wrap (a git wrap) is not tried"
fi
echo "subproject build ok"
