// swift-tools-version:6.0
// Hydra: an NRI plugin that attaches extra network interfaces to Kubernetes
// pods. See README.md for the layout and docs/ for the guides.

import PackageDescription

/// System C libraries from Debian's -dev packages, each behind a module map.
let systemLibraries: [Target] = [
    .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                   providers: [.apt(["libprotobuf-c-dev"])]),
    .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                   providers: [.apt(["libnl-route-3-dev"])]),
    .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                   providers: [.apt(["libcurl4-openssl-dev"])]),
    .systemLibrary(name: "CJansson", pkgConfig: "jansson",
                   providers: [.apt(["libjansson-dev"])]),
    .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
                   providers: [.apt(["libmicrohttpd-dev"])]),
]

let package = Package(
    name: "Hydra",
    products: [
        .executable(name: "hydra", targets: ["Host"]),
        .executable(name: "hydra-nri-sim", targets: ["NRISim"]),
        .executable(name: "hydra-bench", targets: ["Bench"]),
        .executable(name: "hydra-fake-apiserver", targets: ["FakeAPIServer"]),
        // Backends: one shared object each, loaded by the host with dlopen.
        // The file name convention is lib<product>.so.
        .library(name: "hydra-backend-bridge", type: .dynamic, targets: ["BridgeBackend"]),
        .library(name: "hydra-backend-macvlan", type: .dynamic, targets: ["MacvlanBackend"]),
        .library(name: "hydra-backend-dummy", type: .dynamic, targets: ["DummyBackend"]),
        .library(name: "hydra-backend-swifttest", type: .dynamic, targets: ["SwiftTestBackend"]),
        .library(name: "hydra-backend-flannel", type: .dynamic, targets: ["FlannelBackend"]),
    ],
    targets: systemLibraries + [
        // MARK: C code

        // The stable backend ABI: one header, no code.
        .target(name: "BackendAPI"),
        // libprotobuf-c code generated from proto/ by scripts/generate-proto.sh.
        .target(name: "NRIProto", dependencies: ["CProtobufC"]),
        // Linux calls that Glibc's module leaves out (setns, clone flags).
        .target(name: "CLinux"),

        // MARK: Libraries

        .target(name: "HydraLog"),
        .target(name: "NRIWire", dependencies: ["NRIProto", "CProtobufC", "HydraLog"]),
        .target(name: "NRIPlugin", dependencies: ["NRIWire", "HydraLog"]),
        // The runtime side of NRI, for hydra-nri-sim, the demo and the tests.
        .target(name: "NRIRuntimeSim", dependencies: ["NRIWire", "HydraLog"]),
        .target(name: "CNI"),
        .target(name: "CNIExec", dependencies: ["CNI", "HydraLog", "CLinux"]),
        .target(name: "Netns", dependencies: ["CLinux"]),
        .target(name: "Netlink", dependencies: ["CNetlink", "CLinux"]),
        // Shared pod-interface steps of the native backends (addresses, routes, masquerade).
        .target(name: "NetworkSetup", dependencies: ["CNI", "CLinux", "Netlink", "Netns", "IPAM", "BackendSDK"]),
        .target(name: "IPAM", dependencies: ["CNI", "CLinux"]),
        .target(name: "BackendSDK", dependencies: ["BackendAPI", "CNI"]),
        .target(name: "BackendHost", dependencies: ["BackendAPI", "BackendSDK", "CNI", "CNIExec", "HydraLog"]),
        .target(name: "Kubernetes", dependencies: ["CCurl", "HydraLog"]),
        // etcd v3 client over the JSON gateway, for the flannel backend.
        .target(name: "Etcd", dependencies: ["CCurl"]),
        // In-memory Kubernetes API server for tests and the demo.
        .target(name: "FakeAPIServerKit"),
        .target(name: "Orchestrator", dependencies: ["NRIPlugin", "NRIWire", "CNI", "HydraLog"]),
        // Runs a network's plugin list over native backends and the CNI executor.
        .target(name: "Attachments", dependencies: [
            "Orchestrator", "BackendHost", "BackendSDK", "CNI", "CNIExec", "HydraLog", "Netlink", "Netns",
        ]),
        // Prometheus metrics and the health and status endpoints over libmicrohttpd.
        .target(name: "Metrics", dependencies: ["CMicroHTTPD"]),

        // MARK: Executables

        .executableTarget(name: "Host", dependencies: [
            "NRIPlugin", "NRIWire", "HydraLog", "BackendHost", "CNI", "CNIExec",
            "Orchestrator", "Attachments", "Kubernetes", "Netlink", "Netns", "Metrics",
        ]),
        .executableTarget(name: "NRISim", dependencies: ["NRIRuntimeSim", "NRIWire", "HydraLog"]),
        .executableTarget(name: "Bench", dependencies: ["NRIPlugin", "NRIRuntimeSim", "NRIWire", "HydraLog",
                                                        "FlannelNetwork", "Etcd", "BackendSDK", "CNI", "Netlink", "Netns",
                                                        "NetworkSetup", "BackendHost", "CNIExec", "Attachments", "Orchestrator"]),
        .executableTarget(name: "FakeAPIServer", dependencies: ["FakeAPIServerKit"]),

        // MARK: Backends

        // Each native backend is its plugin logic (testable, linked into the
        // tests) plus a target holding only the exported entry symbol.
        .target(name: "BridgeNetwork",
                dependencies: ["BackendSDK", "CNI", "Netlink", "Netns", "IPAM", "NetworkSetup"],
                path: "Backends/bridge/Plugin"),
        .target(name: "BridgeBackend", dependencies: ["BridgeNetwork", "BackendSDK", "CNI", "NetworkSetup"],
                path: "Backends/bridge/Backend"),
        .target(name: "MacvlanNetwork",
                dependencies: ["BackendSDK", "CNI", "Netlink", "Netns", "IPAM", "NetworkSetup"],
                path: "Backends/macvlan/Plugin"),
        .target(name: "MacvlanBackend", dependencies: ["MacvlanNetwork", "BackendSDK", "CNI", "NetworkSetup"],
                path: "Backends/macvlan/Backend"),
        .target(name: "FlannelNetwork",
                dependencies: ["BackendSDK", "CNI", "Netlink", "Netns", "IPAM", "NetworkSetup", "BridgeNetwork", "Etcd"],
                path: "Backends/flannel"),
        .target(name: "FlannelBackend", dependencies: ["FlannelNetwork", "BackendSDK"],
                path: "Backends/flannel-export"),
        .target(name: "DummyBackend", dependencies: ["BackendAPI", "CJansson"],
                path: "Backends/dummy-c",
                cSettings: [.unsafeFlags(["-I/usr/include/libnl3"])],
                linkerSettings: [.linkedLibrary("nl-route-3"), .linkedLibrary("nl-3"),
                                 .linkedLibrary("jansson")]),
        // A Swift backend used only by the tests of the loader and of
        // `hydra backend check`.
        .target(name: "SwiftTestBackend", dependencies: ["BackendSDK", "CNI", "Netns"],
                path: "Tests/Backends/swift-test"),

        // MARK: Tests

        .testTarget(name: "NRIWireTests", dependencies: ["NRIWire"], exclude: ["Fixtures"]),
        .testTarget(name: "NRIPluginTests", dependencies: ["NRIPlugin", "NRIWire", "NRIRuntimeSim", "HydraLog"]),
        .testTarget(name: "KubernetesTests", dependencies: ["Kubernetes", "FakeAPIServerKit", "HydraLog"]),
        .testTarget(name: "OrchestratorTests", dependencies: ["Orchestrator", "NRIWire", "CNI", "HydraLog"]),
        .testTarget(name: "NetnsTests", dependencies: ["Netns", "CLinux"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "Netns", "NetworkSetup"]),
        // Test namespaces, reference-plugin runs and host-local data
        // directories for the native backend tests.
        .target(name: "BackendTestSupport", dependencies: ["BackendSDK", "CNI", "Netlink", "NetworkSetup", "Netns"],
                path: "Tests/Support/BackendTestSupport"),
        .testTarget(name: "BridgeBackendTests",
                    dependencies: ["BridgeNetwork", "BackendTestSupport", "BackendSDK", "CNI", "Netlink", "Netns",
                                   "NetworkSetup"]),
        .testTarget(name: "MacvlanBackendTests",
                    dependencies: ["MacvlanNetwork", "BackendTestSupport", "BackendSDK", "CNI", "Netlink", "Netns",
                                   "NetworkSetup"]),
        .testTarget(name: "CNIExecTests", dependencies: ["CNIExec", "CNI"]),
        .testTarget(name: "BackendHostTests", dependencies: ["BackendHost", "BackendSDK", "CNI", "CNIExec", "HydraLog"]),
        .testTarget(name: "CNITests", dependencies: ["CNI"]),
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "CNI"]),
        .testTarget(name: "AttachmentsTests", dependencies: [
            "Attachments", "Orchestrator", "BackendHost", "BackendSDK", "CNI", "CNIExec", "HydraLog", "Netlink", "Netns",
        ]),
        // A private etcd and a test CA for the tests that need them.
        .target(name: "EtcdTestSupport", path: "Tests/Support/EtcdTestSupport"),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", "EtcdTestSupport"]),
        .testTarget(name: "FlannelTests",
                    dependencies: ["FlannelNetwork", "Etcd", "EtcdTestSupport", "BackendSDK", "CNI", "Netlink", "Netns",
                                   "NetworkSetup"]),
        // Runs the built `hydra`, `hydra-nri-sim` and `hydra-fake-apiserver`
        // against the real kernel; needs root.
        .testTarget(name: "EndToEndTests"),
        // Parses deploy/ and the Dockerfile; checks the fields Hydra depends on.
        .testTarget(name: "DeployTests", dependencies: ["Orchestrator"]),
        // Runs the built hydra against the simulator: metrics, explain, the demo.
        .testTarget(name: "ProductTests", dependencies: ["Metrics"]),
    ],
    swiftLanguageModes: [.v6]
)
