#!/usr/bin/env bash
# Installs the interop peers the tests run against (see DESIGN.md §1, §6):
#   moq-relay-ietf 0.8.0   -> $MOQ_TOOLS_DIR/moq-relay-ietf-0.8.0/bin/moq-relay-ietf
#   moq-clock-ietf 0.6.25  -> $MOQ_TOOLS_DIR/moq-clock-ietf-0.6.25/bin/moq-clock-ietf
#
# MOQ_TOOLS_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools, outside the
# clone, so a machine builds them once (the relay takes ~4 min on 2 cores) and
# every later run, from any clone, costs nothing.
#
#   bash tests/tools/install-peers.sh [PEER...]   (no PEER: every peer below;
#                                                 PEER: a crate name, or NAME:FEATURE
#                                                 for a feature build)
#
# Progress goes to stderr. The LAST line on stdout is `MOQ_TOOLS_DIR=<absolute dir>`.
set -euo pipefail

log() { printf 'install-peers: %s\n' "$*" >&2; }

if [ -z "${MOQ_TOOLS_DIR:-}" ]; then
    MOQ_TOOLS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools"
fi
mkdir -p "$MOQ_TOOLS_DIR"
MOQ_TOOLS_DIR="$(cd "$MOQ_TOOLS_DIR" && pwd -P)"

# name version [cargo feature]: a feature gets its own root, <name>-<version>-<feature>.
PEERS=(
    "moq-relay-ietf 0.8.0"
    "moq-clock-ietf 0.6.25"
    "moq-relay-ietf 0.8.0 auth-cat"
)

install_one() {
    local name="$1" version="$2" feature="${3:-}"
    local root="$MOQ_TOOLS_DIR/$name-$version${feature:+-$feature}"
    local bin="$root/bin/$name"
    if [ -x "$bin" ]; then
        log "$name $version already installed at $bin"
        return 0
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "error: cargo not found in PATH; cannot install $name $version"
        return 1
    fi
    log "installing $name $version${feature:+ (feature $feature)} into $root (this can take several minutes)"
    local start=$SECONDS
    # cargo's own output goes to stderr; keep stdout clean for the final line.
    if ! cargo install --locked --version "$version" ${feature:+--features "$feature"} \
        "$name" --root "$root" 1>&2; then
        log "error: cargo install of $name $version failed"
        return 1
    fi
    if [ ! -x "$bin" ]; then
        log "error: cargo install finished but $bin is missing"
        return 1
    fi
    log "installed $name $version in $((SECONDS - start)) s"
}

# Serialise concurrent runs (e.g. two test commands started at once) so they do not
# build into the same root together. Bounded: give up after 30 minutes.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$MOQ_TOOLS_DIR/.install.lock"
    if ! flock -w 1800 9; then
        log "error: timed out waiting for another install-peers.sh to finish"
        exit 1
    fi
fi

WANTED=("$@")
for peer in "${PEERS[@]}"; do
    # shellcheck disable=SC2086
    set -- $peer
    key="$1${3:+:$3}"
    if [ ${#WANTED[@]} -gt 0 ] && [[ " ${WANTED[*]} " != *" $key "* ]]; then
        continue
    fi
    install_one "$@"
done

echo "MOQ_TOOLS_DIR=$MOQ_TOOLS_DIR"
