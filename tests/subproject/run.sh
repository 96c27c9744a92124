#!/bin/sh
# Builds tests/subproject/consumer with this source tree as its uptls subproject,
# in a scratch directory, and runs it. Checks that the parent decides: uptls
# builds no tests, tool, benchmarks or examples of its own there.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$src/tests/subproject/consumer" "$scratch/consumer"
mkdir -p "$scratch/consumer/subprojects"
ln -s "$src" "$scratch/consumer/subprojects/uptls"
cd "$scratch/consumer"
meson setup build >setup.log 2>&1 || { cat setup.log; exit 1; }
ninja -C build >build.log 2>&1 || { cat build.log; exit 1; }
./build/consumer
if find build/subprojects/uptls -name 'test-*' -o -name 'uptls-demo-*' -o -path '*/tools/cli/uptls' | grep -q .; then
  echo "uptls built its own tests, tool or examples inside a parent project" >&2
  exit 1
fi
echo "subproject build ok"
