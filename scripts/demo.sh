#!/bin/bash
# The Hydra demo. Two pods get their eth0 from the reference bridge CNI
# plugin, which plays the cluster's default CNI. Hydra, driven by the NRI
# runtime simulator, then gives each pod an extra interface `hydra` on the
# network `cbr0` and records it in the pod's network-status annotation on a
# fake API server. Stopping the pods removes it again, and the script leaves
# nothing behind. Needs root (network namespaces).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Swift 6 toolchain: on PATH, or where this project's machines keep it.
export PATH="$PATH:/opt/swift/usr/bin"
if ! command -v swift >/dev/null; then
    echo "swift not found: install a Swift 6 toolchain (swift.org) and put it on PATH" >&2
    exit 1
fi
# The demo's bridges; the demo refuses to run over links it did not create.
default_bridge=hydra-demo-dflt
hydra_bridge=hydra-demo0
work=$(mktemp -d /tmp/hydra-demo.XXXXXX)
pods=(demo-a demo-b)
pids=()

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for pod in "${pods[@]}"; do
        if [ -e "/var/run/netns/hydra-$pod" ]; then
            CNI_COMMAND=DEL CNI_CONTAINERID="$pod" CNI_NETNS="/var/run/netns/hydra-$pod" CNI_IFNAME=eth0 \
                CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge < "$work/default-cni.json" >/dev/null 2>&1 || true
            ip netns del "hydra-$pod" 2>/dev/null || true
        fi
    done
    if [ -n "${created_bridges:-}" ]; then
        ip link del "$default_bridge" 2>/dev/null || true
        ip link del "$hydra_bridge" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

for link in "$default_bridge" "$hydra_bridge"; do
    if ip link show "$link" >/dev/null 2>&1; then
        echo "link $link already exists; the demo uses that name for its own bridge. Delete it or stop the other demo." >&2
        exit 1
    fi
done
for pod in "${pods[@]}"; do
    if ip netns list | grep -qw "hydra-$pod"; then
        echo "network namespace hydra-$pod already exists; delete it (ip netns del hydra-$pod) first." >&2
        exit 1
    fi
done
created_bridges=yes

step "Installing dependencies and building (release)"
"$root/scripts/install-deps.sh"
echo "(the first release build takes about a minute on 2 cores)"
if ! (cd "$root" && swift build -c release > "$work/build.log" 2>&1); then
    cat "$work/build.log" >&2
    echo "the build failed; its output is above" >&2
    exit 1
fi
tail -1 "$work/build.log"
bin="$root/.build/release"

step "Creating two pods; the default CNI (reference bridge plugin) gives each eth0"
cat > "$work/default-cni.json" <<JSON
{"cniVersion": "1.0.0", "name": "default", "type": "bridge", "bridge": "$default_bridge", "isGateway": true,
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/24"}]], "dataDir": "$work/cni-default"}}
JSON
for pod in "${pods[@]}"; do
    ip netns add "hydra-$pod"
    ip -n "hydra-$pod" link set lo up
    CNI_COMMAND=ADD CNI_CONTAINERID="$pod" CNI_NETNS="/var/run/netns/hydra-$pod" CNI_IFNAME=eth0 \
        CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge < "$work/default-cni.json" > "$work/$pod-default.json"
    echo "$pod: eth0 $(jq -r '.ips[0].address' "$work/$pod-default.json")"
done

step "Starting the fake Kubernetes API server"
cat > "$work/seed.json" <<JSON
{"pods": [
  {"metadata": {"name": "demo-a", "namespace": "default", "uid": "uid-demo-a"}},
  {"metadata": {"name": "demo-b", "namespace": "default", "uid": "uid-demo-b"}}]}
JSON
"$bin/hydra-fake-apiserver" --listen 127.0.0.1:0 --seed "$work/seed.json" --print-url-file "$work/api-url" \
    > "$work/apiserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/api-url" ] && break; sleep 0.1; done
api=$(cat "$work/api-url")
echo "listening on $api"

step "Starting hydra run with the bridge backend and the default network cbr0"
cat > "$work/hydra.json" <<JSON
{
  "nri": {"socket": "$work/nri.sock", "pluginName": "hydra", "pluginIndex": "50"},
  "backends": {"dir": "$bin", "load": [{"name": "bridge", "required": true}]},
  "stateDir": "$work/state",
  "networks": [
    {"name": "cbr0", "interface": "hydra",
     "default": {"namespaces": ["*"], "labels": {}},
     "config": {"cniVersion": "1.0.0", "type": "bridge", "bridge": "$hydra_bridge", "isGateway": true,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.250.0.0/24"}]],
                         "dataDir": "$work/cni-hydra"}}}
  ],
  "annotations": {"selection": "k8s.v1.cni.cncf.io/networks",
                  "status": "k8s.v1.cni.cncf.io/network-status", "perNetworkResults": true},
  "kubernetes": {"enabled": true, "server": "$api"},
  "metrics": {"listen": ""},
  "log": {"level": "info", "format": "logfmt"}
}
JSON

cat > "$work/scenario.json" <<JSON
{"pods": [
  {"name": "demo-a", "uid": "uid-demo-a", "netns": "/var/run/netns/hydra-demo-a",
   "ips": ["$(jq -r '.ips[0].address' "$work/demo-a-default.json" | cut -d/ -f1)"]},
  {"name": "demo-b", "uid": "uid-demo-b", "netns": "/var/run/netns/hydra-demo-b",
   "ips": ["$(jq -r '.ips[0].address' "$work/demo-b-default.json" | cut -d/ -f1)"]}],
 "steps": [{"run": "demo-a"}, {"run": "demo-b"}, {"waitForFile": "$work/continue"},
           {"stop": "demo-a"}, {"remove": "demo-a"}, {"stop": "demo-b"}, {"remove": "demo-b"}]}
JSON

step "Starting hydra-nri-sim (the container runtime) and sending RunPodSandbox"
"$bin/hydra-nri-sim" --socket "$work/nri.sock" --scenario "$work/scenario.json" > "$work/sim.out" 2> "$work/sim.err" &
sim=$!
pids+=($sim)
for _ in $(seq 100); do [ -S "$work/nri.sock" ] && break; sleep 0.1; done
"$bin/hydra" run --config "$work/hydra.json" > "$work/hydra.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q '"waiting"' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -E '"(registered|run)"' "$work/sim.out" || true
if ! grep -q '"waiting"' "$work/sim.out"; then
    echo "the runtime simulator did not get through RunPodSandbox; hydra's log:" >&2
    cat "$work/hydra.log" >&2
    exit 1
fi

step "ip addr inside pod demo-a: eth0 from the default CNI, hydra from Hydra"
ip -n hydra-demo-a -br addr

step "network-status annotation the API server received for demo-a"
for _ in $(seq 50); do
    status=$(curl -sf "$api/api/v1/namespaces/default/pods/demo-a" \
        | jq -r '.metadata.annotations["k8s.v1.cni.cncf.io/network-status"] // empty')
    [ -n "$status" ] && break
    sleep 0.1
done
echo "${status:-<none>}" | jq . 2>/dev/null || echo "${status:-<none>}"

step "ping from demo-a to demo-b through the hydra interface"
target=$(ip -n hydra-demo-b -4 -o addr show dev hydra | awk '{print $4}' | cut -d/ -f1)
ip netns exec hydra-demo-a ping -c 3 -W 1 -I hydra "$target"

step "Stopping the pods: StopPodSandbox and RemovePodSandbox"
touch "$work/continue"
wait "$sim" || true
grep -E '"(stop|remove|done)"' "$work/sim.out" || true

step "Everything Hydra attached is gone"
ip -n hydra-demo-a -br link
echo "hydra addresses still reserved: $(ls "$work/cni-hydra/cbr0" 2>/dev/null | grep -c '^10\.' || true)"
echo "sandbox records left: $(ls "$work/state/sandboxes" 2>/dev/null | grep -c '\.json$' || true)"
