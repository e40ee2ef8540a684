#!/bin/sh
# Regenerates the libprotobuf-c code in Sources/NRIProto from proto/*.proto.
# Needs protoc-c (Debian package protobuf-c-compiler). The output is
# committed so that a build needs only libprotobuf-c-dev.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/Sources/NRIProto"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

protoc-c --proto_path="$root/proto" --c_out="$tmp" nri.proto ttrpc.proto

for name in nri ttrpc; do
    mv "$tmp/$name.pb-c.h" "$out/include/$name.pb-c.h"
    mv "$tmp/$name.pb-c.c" "$out/$name.pb-c.c"
done
echo "generated into $out"
