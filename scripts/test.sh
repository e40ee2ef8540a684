#!/bin/bash
# Builds and runs every test, root-only kernel tests included, then replays
# the fuzz regressions and fuzzes the NRI decoders for a bounded time.
# Starts etcd on 127.0.0.1 for the tests that need it and stops it after.
#
# Each test target runs in its own `swift test` process: a crash in one
# target then fails that target only, and targets do not compete for the
# small cooperative thread pool (two threads on a two-core machine).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$PATH:/opt/swift/usr/bin"

"$root/scripts/install-deps.sh" || exit 1

etcd_dir=$(mktemp -d /tmp/hydra-test-etcd.XXXXXX)
etcd_pid=""
cleanup() {
    if [ -n "$etcd_pid" ]; then
        kill "$etcd_pid" 2>/dev/null
        wait "$etcd_pid" 2>/dev/null
    fi
    rm -rf "$etcd_dir"
}
trap cleanup EXIT

etcd --name hydra-test --data-dir "$etcd_dir/data" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 > "$etcd_dir/etcd.log" 2>&1 &
etcd_pid=$!
export HYDRA_TEST_ETCD=http://127.0.0.1:2379
# Also run the README's demo in a fresh clone (slow: a release build).
export HYDRA_TEST_DEMO="${HYDRA_TEST_DEMO:-1}"

swift build --build-tests || exit 1

passed=0
failed=0
failed_targets=()
for directory in Tests/*Tests; do
    target=$(basename "$directory")
    log="$etcd_dir/$target.log"
    echo "=== $target"
    # The flannel tests run two-node overlays with etcd outages; in parallel
    # on two cores they starve each other's timers, so they run one by one.
    parallel=()
    [ "$target" = FlannelTests ] && parallel=(--no-parallel)
    swift test --skip-build --disable-xctest "${parallel[@]}" --filter "^$target\\." 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    target_passed=$(grep -cE '^✔ Test .* passed after' "$log")
    target_failed=$(grep -cE '^✘ Test .* failed after' "$log")
    passed=$((passed + target_passed))
    failed=$((failed + target_failed))
    if [ "$status" -ne 0 ]; then
        failed_targets+=("$target")
        # A crash leaves no per-test failure line; count the target once.
        [ "$target_failed" -eq 0 ] && failed=$((failed + 1))
    fi
done

fuzz_status=0
"$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-60}" || fuzz_status=$?
if [ "$fuzz_status" -ne 0 ]; then
    failed_targets+=("fuzz")
    failed=$((failed + 1))
fi

if [ "${#failed_targets[@]}" -gt 0 ]; then
    echo "failed: ${failed_targets[*]}"
fi
echo "$passed passed, $failed failed"
[ "${#failed_targets[@]}" -eq 0 ]
