#!/usr/bin/env bash
# clang-tidy over the library's C++ (cpp/src, and through it cpp/include) with
# the repository's .clang-tidy, every finding an error:
#
#   bash tests/tools/tidy.sh BUILD_DIR
#
# cxx-build (build.rs), not CMake, compiles cpp/src, so there is no
# compile_commands.json for it: the flags below are build.rs's, and the cxx
# headers are the copies a CMake build leaves in BUILD_DIR/cxx-generated.
set -euo pipefail

cd "$(dirname "$0")/../.."
build_dir=${1:?usage: tidy.sh BUILD_DIR}
generated=$build_dir/cxx-generated
[ -f "$generated/rust/cxx.h" ] || {
  echo "tidy.sh: $generated/rust/cxx.h is missing: build $build_dir with CMake first" >&2
  exit 1
}
tidy=$(command -v clang-tidy-15 || command -v clang-tidy || true)
[ -n "$tidy" ] || { echo "tidy.sh: clang-tidy is not installed (apt-get install clang-tidy-15)" >&2; exit 1; }

# The generated bridge header includes "moq-ffi/cpp/src/bridge.hpp" (the
# crate's name, then its path): lay that out in a scratch include root.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/moq-ffi"
ln -s "$(pwd)/cpp" "$scratch/moq-ffi/cpp"

# As build.rs: C++17, warnings on; exceptions off except in the callback
# boundary; the test hooks compiled in (the tests' build has them).
common=(-std=c++17 -Wall -Wextra -Icpp/include -Icpp/src "-I$generated" "-I$scratch" -DMOQ_TEST_HOOKS)
failed=0
for source in cpp/src/*.cpp; do
  if [ "$source" = cpp/src/boundary.cpp ]; then
    flags=("${common[@]}" -fexceptions)
  else
    flags=("${common[@]}" -fno-exceptions -DRUST_CXX_NO_EXCEPTIONS)
  fi
  echo "clang-tidy $source"
  "$tidy" --quiet "$source" -- "${flags[@]}" >"$scratch/out" 2>&1 || failed=1
  grep -v 'warnings generated\.$' "$scratch/out" || true  # counts of suppressed ones
done
[ "$failed" = 0 ] || { echo "tidy.sh: clang-tidy found problems (above)" >&2; exit 1; }
echo "tidy.sh: clean"
