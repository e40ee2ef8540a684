#!/bin/bash
# Builds and runs every test, root-only kernel tests included, then replays
# the fuzz regressions and fuzzes the NRI decoders for a bounded time.
# Starts etcd on 127.0.0.1 for the tests that need it and stops it after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh"

etcd_dir=$(mktemp -d /tmp/hydra-test-etcd.XXXXXX)
etcd_pid=""
cleanup() {
    [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
    rm -rf "$etcd_dir"
}
trap cleanup EXIT

if command -v etcd >/dev/null; then
    etcd --name hydra-test --data-dir "$etcd_dir" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 > "$etcd_dir/etcd.log" 2>&1 &
    etcd_pid=$!
    export HYDRA_TEST_ETCD=http://127.0.0.1:2379
fi

swift build --build-tests
swift test --skip-build --disable-xctest

"$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-60}"
