#!/usr/bin/env bash
# The test command of moq:   bash tests/run.sh [STEP...]
#
# Runs on a fresh Debian bookworm machine (as root, with Rust, gcc, python3 and git):
#   deps      apt packages: cmake ninja-build libgtest-dev libgmock-dev openssl clang-tidy-15
#   peers     tests/tools/install-peers.sh: moq-relay-ietf + moq-clock-ietf (cached
#             outside the clone) -> MOQ_TOOLS_DIR
#   rust      cargo fmt --check, cargo clippy -D warnings (library and tests/peer), cargo test
#   build     CMake build (Ninja, RelWithDebInfo) in $MOQ_BUILD_DIR + ctest
#   tidy      tests/tools/tidy.sh: clang-tidy with .clang-tidy over cpp/ (needs build)
#   consumer  cmake --install, then tests/consumer built against the install prefix
#   bench     bench/run.py --quick: both benchmark programs run once with a small
#             load, so they keep working (the figures of a quick run mean nothing)
#   asan      CMake build with MOQ_SANITIZE=ON (Debug) in $MOQ_ASAN_BUILD_DIR + ctest
#   tsan      (only when named) CMake build with MOQ_TSAN=ON in $MOQ_TSAN_BUILD_DIR +
#             ctest under ThreadSanitizer with tests/tsan.supp
# With no STEP, runs all but tsan in that order. (tidy and consumer need build; every step after
# peers needs MOQ_TOOLS_DIR, which the peers step sets, or take it from the environment.)
#
# Settings (environment):
#   MOQ_BUILD_DIR       normal build dir         (default: <repo>/build)
#   MOQ_ASAN_BUILD_DIR  sanitizer build dir      (default: <repo>/build-asan)
#   MOQ_TSAN_BUILD_DIR  ThreadSanitizer build    (default: <repo>/build-tsan)
#   MOQ_JOBS            parallel build jobs      (default: 2)
#   MOQ_CTEST_JOBS      parallel ctest jobs      (default: 1)
#   MOQ_TEST_TIMEOUT    per-test timeout, s      (default: 300)
#   MOQ_CORROSION       AUTO|ON|OFF, see corrosion/MoqRust.cmake (default: OFF, the
#                       built-in importer, as CI uses)
# The asan step runs ctest with ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 and
# UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 (unless set), and no leak
# suppressions: every test process ends with moq::shutdown. The clock interop
# tests repeat each scenario 3 times in the build step and once under the sanitizers
# (MOQ_INTEROP_RUNS), where what matters is memory safety, not an intermittent timing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD_DIR=${MOQ_BUILD_DIR:-$ROOT/build}
ASAN_BUILD_DIR=${MOQ_ASAN_BUILD_DIR:-$ROOT/build-asan}
TSAN_BUILD_DIR=${MOQ_TSAN_BUILD_DIR:-$ROOT/build-tsan}
JOBS=${MOQ_JOBS:-2}
CTEST_JOBS=${MOQ_CTEST_JOBS:-1}
TEST_TIMEOUT=${MOQ_TEST_TIMEOUT:-300}
CORROSION=${MOQ_CORROSION:-OFF}
APT_PACKAGES=(cmake ninja-build libgtest-dev libgmock-dev openssl clang-tidy-15)
# The Rust test that must not share the machine with others (see step_rust).
TIMING_SENSITIVE_TEST=lower_priority_number_is_sent_first

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

START=$SECONDS
STEP_START=$SECONDS
banner() {
  echo
  echo "=================================================================="
  echo "== moq tests: $*   (t=$((SECONDS - START))s)"
  echo "=================================================================="
  STEP_START=$SECONDS
}
step_done() { echo "-- $1 done in $((SECONDS - STEP_START))s"; }
die() { echo "tests/run.sh: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

step_deps() {
  banner "deps: ${APT_PACKAGES[*]}"
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "all present"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup)"
  for c in fmt clippy; do
    if ! cargo "$c" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null 2>&1 || die "cargo $c is missing and rustup is not available"
      rustup component add "$([ "$c" = fmt ] && echo rustfmt || echo clippy)"
    fi
  done
  cmake --version | head -n1
  echo "ninja $(ninja --version)"
  cargo --version
  step_done deps
}

step_peers() {
  banner "peers: tests/tools/install-peers.sh"
  [ -f tests/tools/install-peers.sh ] || die "tests/tools/install-peers.sh is missing"
  local log
  log=$(mktemp)
  bash tests/tools/install-peers.sh </dev/null | tee "$log"
  local dir
  dir=$(tail -n 1 "$log" | sed -n 's/^MOQ_TOOLS_DIR=//p')
  rm -f "$log"
  [ -n "$dir" ] || die "install-peers.sh did not print MOQ_TOOLS_DIR=<dir> as its last line"
  [ -d "$dir" ] || die "MOQ_TOOLS_DIR=$dir is not a directory"
  export MOQ_TOOLS_DIR=$dir
  step_done peers
}

need_tools() {
  [ -n "${MOQ_TOOLS_DIR:-}" ] || die "MOQ_TOOLS_DIR is not set: run the peers step first (or set it)"
}

step_rust() {
  need_tools
  banner "rust: cargo fmt --all -- --check"
  cargo fmt --all -- --check
  step_done "cargo fmt"
  banner "rust: cargo clippy --locked --workspace --all-targets -- -D warnings"
  cargo clippy --locked --workspace --all-targets -- -D warnings
  step_done "cargo clippy"
  banner "rust: cargo test --locked"
  # Tests run two at a time, each with its own relay. The priority test measures
  # scheduling on a rate-limited link: it runs alone afterwards, so the other
  # tests' relays do not compete with it for the two cores.
  cargo test --locked -- --skip "$TIMING_SENSITIVE_TEST"
  cargo test --locked --test engine -- --exact "$TIMING_SENSITIVE_TEST" --test-threads=1
  step_done "cargo test"
}

# cmake_build <build dir> <build type> [cmake args...]
cmake_build() {
  local dir=$1 type=$2
  shift 2
  cmake -S "$ROOT" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE="$type" \
    -DMOQ_CORROSION="$CORROSION" \
    -DMOQ_BUILD_TESTS=ON \
    -DMOQ_TOOLS_DIR="$MOQ_TOOLS_DIR" \
    -DMOQ_TEST_TIMEOUT="$TEST_TIMEOUT" \
    "$@"
  cmake --build "$dir" --parallel "$JOBS"
}

run_ctest() {
  # Each test's bound is its TIMEOUT property (MOQ_TEST_TIMEOUT, set above).
  ctest --test-dir "$1" --output-on-failure --no-tests=error --parallel "$CTEST_JOBS"
}

step_build() {
  need_tools
  banner "build: CMake RelWithDebInfo in $BUILD_DIR"
  cmake_build "$BUILD_DIR" RelWithDebInfo
  step_done "build"
  banner "build: ctest ($BUILD_DIR)"
  run_ctest "$BUILD_DIR"
  step_done "ctest"
}

step_tidy() {
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || die "no build in $BUILD_DIR: run the build step first"
  banner "tidy: clang-tidy over cpp/ (tests/tools/tidy.sh)"
  bash tests/tools/tidy.sh "$BUILD_DIR"
  step_done "tidy"
}

step_consumer() {
  local prefix=$BUILD_DIR/prefix consumer=$BUILD_DIR/consumer
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || die "no build in $BUILD_DIR: run the build step first"
  banner "consumer: cmake --install into $prefix"
  rm -rf "$prefix" "$consumer"
  cmake --install "$BUILD_DIR" --prefix "$prefix"
  step_done "install"
  banner "consumer: find_package(moq) project, -fno-exceptions"
  cmake -S "$ROOT/tests/consumer" -B "$consumer" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
  cmake --build "$consumer" --parallel "$JOBS"
  local out
  out=$(timeout 60 "$consumer/moq_consumer") || { echo "$out"; die "the consumer failed"; }
  echo "$out"
  [ "$(tail -n 1 <<<"$out")" = "consumer ok" ] || die "the consumer did not print 'consumer ok'"
  step_done "consumer"
}

step_bench() {
  need_tools
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || die "no build in $BUILD_DIR: run the build step first"
  banner "bench: bench/run.py --quick"
  python3 bench/run.py --quick --build-dir "$BUILD_DIR"
  step_done "bench"
}

step_asan() {
  need_tools
  banner "asan: CMake Debug + MOQ_SANITIZE=ON in $ASAN_BUILD_DIR"
  cmake_build "$ASAN_BUILD_DIR" Debug -DMOQ_SANITIZE=ON
  step_done "asan build"
  banner "asan: ctest ($ASAN_BUILD_DIR)"
  # fast_unwind_on_malloc=0: full allocation stacks through Rust's std (built without
  # frame pointers), so reports are readable.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  MOQ_INTEROP_RUNS=${MOQ_INTEROP_RUNS:-1} \
    run_ctest "$ASAN_BUILD_DIR"
  step_done "asan ctest"
}

step_tsan() {
  need_tools
  banner "tsan: CMake RelWithDebInfo + MOQ_TSAN=ON in $TSAN_BUILD_DIR"
  cmake_build "$TSAN_BUILD_DIR" RelWithDebInfo -DMOQ_TSAN=ON
  step_done "tsan build"
  banner "tsan: ctest ($TSAN_BUILD_DIR)"
  # The Rust engine is not instrumented: tests/tsan.supp says what that means
  # for the options below and for each suppression.
  TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$ROOT/tests/tsan.supp:ignore_interceptors_accesses=1:halt_on_error=0:exitcode=66:second_deadlock_stack=1} \
  MOQ_INTEROP_RUNS=${MOQ_INTEROP_RUNS:-1} \
    run_ctest "$TSAN_BUILD_DIR"
  step_done "tsan ctest"
}

ALL_STEPS=(deps peers rust build tidy consumer bench asan)
OPTIONAL_STEPS=(tsan)
if [ $# -eq 0 ]; then
  set -- "${ALL_STEPS[@]}"
fi
for s in "$@"; do
  case " ${ALL_STEPS[*]} ${OPTIONAL_STEPS[*]} " in
    *" $s "*) ;;
    *) die "unknown step '$s' (steps: ${ALL_STEPS[*]}; on request: ${OPTIONAL_STEPS[*]})" ;;
  esac
done
for s in "$@"; do
  "step_$s"
done

echo
echo "== moq tests: all steps passed ($*) in $((SECONDS - START))s"
