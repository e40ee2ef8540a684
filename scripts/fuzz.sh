#!/bin/sh
# Builds the libFuzzer target for the NRI decoders and runs it.
#
#   scripts/fuzz.sh [SECONDS]      fuzz for SECONDS (default 60), seeded with
#                                  the captured NRI traffic and the regression
#                                  inputs in Fuzz/regressions
#
# A crashing input is written to fuzz-artifacts/; copy it to
# Fuzz/regressions/ so that every later run (and CI) replays it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build="$root/.build/fuzz"
mkdir -p "$build/HydraLog" "$build/corpus" "$root/fuzz-artifacts"

# HydraLog as its own module, because NRIWire imports it.
swiftc -parse-as-library -module-name HydraLog -emit-module -emit-module-path "$build/HydraLog/HydraLog.swiftmodule" \
    -emit-library -static -o "$build/HydraLog/libHydraLog.a" -sanitize=fuzzer,address \
    "$root"/Sources/HydraLog/*.swift

for file in nri ttrpc; do
    clang -c -O1 -fsanitize=fuzzer-no-link,address -I "$root/Sources/NRIProto/include" \
        -o "$build/$file.pb-c.o" "$root/Sources/NRIProto/$file.pb-c.c"
done

swiftc -parse-as-library -module-name NRIWire -sanitize=fuzzer,address -O \
    -I "$build/HydraLog" -I "$root/Sources/NRIProto/include" -I "$root/Sources/CProtobufC" \
    -Xcc -fmodule-map-file="$root/Sources/NRIProto/include/module.modulemap" \
    -Xcc -fmodule-map-file="$root/Sources/CProtobufC/module.modulemap" \
    "$root"/Sources/NRIWire/*.swift "$root/Fuzz/NRIWireFuzz.swift" \
    "$build/nri.pb-c.o" "$build/ttrpc.pb-c.o" "$build/HydraLog/libHydraLog.a" -lprotobuf-c \
    -o "$build/nri-wire-fuzz"

# Seeds: every captured byte stream, and the regression inputs.
find "$root/Tests/NRIWireTests/Fixtures/nri-wire" -name '*.bin' -exec cp {} "$build/corpus/" \;
cp "$root"/Fuzz/regressions/* "$build/corpus/" 2>/dev/null || true

# Replay the regressions first: any crash fails the run.
if ls "$root"/Fuzz/regressions/* >/dev/null 2>&1; then
    "$build/nri-wire-fuzz" -runs=0 "$root"/Fuzz/regressions/*
fi

"$build/nri-wire-fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=5 \
    -artifact_prefix="$root/fuzz-artifacts/" "$build/corpus"
