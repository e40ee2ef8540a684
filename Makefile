# Hydra: the two commands of the README, plus the benchmarks and the fuzzer.
# Everything needs root on Debian 12: network namespaces, iptables, apt-get.

.PHONY: demo test build fuzz deps bench

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

## Run every hydra-bench subcommand that docs/benchmarks.md names in a
## `hydra-bench NAME` command (or those in BENCH="nri backends"), and rewrite
## the page's last section with their output, the machine, the commands and
## the date. Needs root for the backend benchmarks.
bench: deps
	swift build -c release
	@set -e; page=docs/benchmarks.md; marker='## Latest run (make bench)'; \
	head=$$(awk -v marker="$$marker" '$$0 == marker { exit } { print }' $$page); \
	subcommands=$${BENCH:-$$(printf '%s\n' "$$head" | grep -o 'hydra-bench [a-z][a-z-]*' | cut -d' ' -f2 | sort -u)}; \
	{ printf '%s\n\n%s\n\n' "$$head" "$$marker"; \
	  echo "Written by \`make bench\` on $$(date -u '+%Y-%m-%d %H:%M UTC'):" \
	       "$$(nproc) cores, $$(awk '/^MemTotal/ { printf "%.0f GiB", $$2 / 1048576 }' /proc/meminfo) of memory," \
	       "$$(. /etc/os-release && echo "$$PRETTY_NAME"), kernel $$(uname -r), $$(swift --version 2>/dev/null | head -1)," \
	       "release build. Each line below is one figure as hydra-bench prints it."; \
	  echo; echo '```'; \
	  for subcommand in $$subcommands; do \
	    echo "$$ .build/release/hydra-bench $$subcommand"; \
	    .build/release/hydra-bench $$subcommand 2>&1 || echo "(hydra-bench $$subcommand exited with status $$?)"; \
	  done; \
	  echo '```'; } > $$page.tmp; \
	mv $$page.tmp $$page

deps:
	./scripts/install-deps.sh
