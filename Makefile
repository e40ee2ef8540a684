# Hydra: the two commands of the README, plus the benchmarks and the fuzzer.
# Everything needs root on Debian 12: network namespaces, iptables, apt-get.

.PHONY: demo test build fuzz deps

## Run the demo: a pod gains an extra interface through Hydra.
demo:
	./scripts/demo.sh

## Build and run every test, starting etcd for the tests that need it.
test: deps
	./scripts/test.sh

## Release build of hydra, the simulator and the backends.
build: deps
	swift build -c release

## Fuzz the NRI decoders for FUZZ_SECONDS (default 60).
fuzz: deps
	./scripts/fuzz.sh $${FUZZ_SECONDS:-60}

deps:
	./scripts/install-deps.sh
