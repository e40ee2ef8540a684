# Hydra's image: the hydra binary and its backends, built on the official
# Swift images (Debian 12). Backends are installed in one directory,
# /usr/lib/hydra/backends, the default of backends.dir.
#   docker build -t ghcr.io/clusternet/hydra:0.1.0 .
ARG SWIFT_VERSION=6.3

FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        pkg-config libprotobuf-c-dev libnl-3-dev libnl-route-3-dev libcurl4-openssl-dev \
        libjansson-dev libmicrohttpd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
COPY Backends Backends
# SwiftPM checks every target's directory, tests included, before building.
COPY Tests Tests
COPY proto proto
RUN swift build -c release --product hydra \
    && swift build -c release --product hydra-backend-bridge \
    && swift build -c release --product hydra-backend-macvlan \
    && swift build -c release --product hydra-backend-flannel
RUN install -D -m 0755 .build/release/hydra /out/usr/bin/hydra \
    && install -d /out/usr/lib/hydra/backends \
    && install -m 0644 .build/release/libhydra-backend-bridge.so /out/usr/lib/hydra/backends/ \
    && install -m 0644 .build/release/libhydra-backend-macvlan.so /out/usr/lib/hydra/backends/ \
    && install -m 0644 .build/release/libhydra-backend-flannel.so /out/usr/lib/hydra/backends/

# The slim image carries the Swift runtime libraries that hydra and the
# backends link dynamically (the backends must share the host's runtime).
FROM swift:${SWIFT_VERSION}-bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libprotobuf-c1 libnl-3-200 libnl-route-3-200 libcurl4 libjansson4 libmicrohttpd12 \
        iproute2 iptables nftables ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
ENTRYPOINT ["/usr/bin/hydra"]
CMD ["run", "--config", "/etc/hydra/config.json"]
