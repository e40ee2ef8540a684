#!/bin/sh
# Installs the Debian packages Hydra builds, tests and demonstrates with.
# Needs root. Safe to run again: apt-get skips what is installed.
set -eu
packages="libprotobuf-c-dev protobuf-c-compiler libnl-3-dev libnl-route-3-dev libcurl4-openssl-dev
libjansson-dev libmicrohttpd-dev etcd-server etcd-client containernetworking-plugins iptables
iproute2 iputils-ping nftables util-linux gcc pkg-config clang libclang-rt-14-dev openssl curl jq"

missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi
