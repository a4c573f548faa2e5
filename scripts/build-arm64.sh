#!/usr/bin/env bash
# Cross-builds the release binary for aarch64-unknown-linux-gnu (ARM servers: Graviton, Ampere,
# Cobalt) and smoke-tests it under qemu-aarch64: start a node, create a topic, produce a file,
# consume it back byte for byte, stop with SIGTERM. Prints the binary's size.
#
#   scripts/build-arm64.sh            # build and smoke-test
#   SKIP_SMOKE=1 scripts/build-arm64.sh
#
# Needs rustup's aarch64 standard library (downloaded from static.rust-lang.org) and Debian's
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user-static (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian packages)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
  echo "== rustup target add $target"
  rustup target add "$target" || {
    echo "error: rustup could not download the $target standard library (static.rust-lang.org)" >&2
    exit 1
  }
fi

echo "== cargo build --release --target $target"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
time cargo build --release --locked -p strata-server --bin strata --target "$target"
bin="$target_dir/$target/release/strata"
file "$bin" 2>/dev/null || true
stripped="$target_dir/$target/release/strata.stripped"
aarch64-linux-gnu-strip -o "$stripped" "$bin"
size() { stat -c %s "$1"; }
echo "binary: $(size "$bin") bytes ($(( $(size "$bin") / 1048576 )) MiB), stripped: $(size "$stripped") bytes ($(( $(size "$stripped") / 1048576 )) MiB)"

if [ "${SKIP_SMOKE:-}" = 1 ]; then
  exit 0
fi

echo "== smoke test under qemu-aarch64"
run() { qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bin" "$@"; }
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export STRATA_URL="http://127.0.0.1:$port"
# Started directly (not through `run`) so that $! is qemu itself and SIGTERM reaches strata.
qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bin" serve --data-dir "$work/data" \
  --listen "127.0.0.1:$port" >"$work/node.log" 2>&1 &
node=$!
cleanup() { kill -9 "$node" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  run cluster health --timeout 2s >/dev/null 2>&1 && break
  kill -0 "$node" 2>/dev/null || { cat "$work/node.log"; echo "error: the node exited" >&2; exit 1; }
  sleep 0.5
done
run cluster health
run topic create smoke --partitions 1
for i in $(seq 1 2000); do printf 'user-%d\t{"n": %d, "arch": "aarch64"}\n' "$((i % 17))" "$i"; done >"$work/in.tsv"
run produce smoke --file "$work/in.tsv" --key-separator '\t'
run consume smoke --format raw --key-separator '\t' >"$work/out.tsv"
cmp "$work/in.tsv" "$work/out.tsv"
echo "consumed back $(wc -l <"$work/out.tsv") records, byte-identical"
kill -TERM "$node"
status=0
wait "$node" || status=$?
if [ "$status" -ne 0 ]; then
  tail -20 "$work/node.log"
  echo "error: the node exited with $status after SIGTERM" >&2
  exit 1
fi
echo "smoke test passed: start, produce, consume, SIGTERM (exit 0) on aarch64 under qemu"
