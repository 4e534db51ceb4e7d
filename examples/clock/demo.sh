#!/usr/bin/env bash
# The main demo of moq, end to end on this machine:
#   a local moq-relay-ietf on 127.0.0.1 (fresh test certificates),
#   the C++ clock publisher (examples/clock) announcing clock/now,
#   the C++ clock subscriber printing the times it receives through the relay.
#
#   bash examples/clock/demo.sh [SECONDS]     (default: 10 lines)
#
# Installs what it needs first (apt packages, the relay; cached after the first run).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LINES=${1:-10}
BUILD_DIR=${MOQ_BUILD_DIR:-$ROOT/build}

echo "== demo: installing dependencies (apt packages, moq-relay-ietf)" >&2
bash tests/run.sh deps >&2
MOQ_TOOLS_DIR=$(bash tests/tools/install-peers.sh moq-relay-ietf | tail -n 1 | sed 's/^MOQ_TOOLS_DIR=//')
RELAY="$MOQ_TOOLS_DIR/moq-relay-ietf-0.8.0/bin/moq-relay-ietf"

echo "== demo: building the library and examples/clock" >&2
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOQ_BUILD_TESTS=OFF >&2
cmake --build "$BUILD_DIR" --target moq-clock -j "${MOQ_JOBS:-2}" >&2
CLOCK="$BUILD_DIR/examples/clock/moq-clock"

WORK=$(mktemp -d /tmp/moq-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash tests/tools/gen-certs.sh "$WORK/certs"
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="https://localhost:$PORT/"

echo "== demo: relay on 127.0.0.1:$PORT" >&2
RUST_LOG=info,quinn=warn NO_COLOR=1 "$RELAY" --bind "127.0.0.1:$PORT" \
  --tls-cert "$WORK/certs/cert.pem" --tls-key "$WORK/certs/key.pem" \
  --coordinator-file "$WORK/coordinator.json" 2>"$WORK/relay.log" &
PIDS+=($!)
for _ in $(seq 100); do
  grep -q "listening on 127.0.0.1:$PORT" "$WORK/relay.log" && break
  sleep 0.1
done
grep -q "listening on 127.0.0.1:$PORT" "$WORK/relay.log" || { cat "$WORK/relay.log" >&2; echo "relay did not start" >&2; exit 1; }

echo "== demo: C++ clock publisher -> relay" >&2
"$CLOCK" --publish --bind 127.0.0.1:0 --root "$WORK/certs/ca.pem" "$URL" >"$WORK/publisher.out" 2>"$WORK/publisher.err" &
PIDS+=($!)

# Subscribe once the relay has the namespace: before that, a relay under load
# may answer from its coordinator lookup (an internal error) instead of "not
# found", which the subscriber would not retry.
for _ in $(seq 300); do
  grep -q "moq-clock: publishing" "$WORK/publisher.err" && break
  sleep 0.1
done
grep -q "moq-clock: publishing" "$WORK/publisher.err" || { cat "$WORK/publisher.err" >&2; echo "publisher did not start" >&2; exit 1; }

echo "== demo: C++ clock subscriber <- relay (prints $LINES received times)" >&2
if ! timeout 120 "$CLOCK" --bind 127.0.0.1:0 --root "$WORK/certs/ca.pem" --count "$LINES" "$URL"; then
  echo "demo failed; publisher said:" >&2
  cat "$WORK/publisher.err" >&2
  exit 1
fi
echo "== demo: done" >&2
