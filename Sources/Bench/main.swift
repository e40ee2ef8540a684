// hydra-bench: prints benchmark figures for docs/benchmarks.md. Build and
// run it in release mode: `swift build -c release && .build/release/hydra-bench nri`.
import Foundation
import HydraLog
import NRIPlugin
import NRIRuntimeSim
import NRIWire

/// A handler that attaches nothing: the round trip measures Hydra's NRI
/// path alone.
struct NoNetworks: PodLifecycleHandler {
    func runPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async throws {}
    func stopPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async {}
    func removePodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async {}
    func synchronize(pods: [PodSandbox]) async {}
    func abandoned(_ pod: PodSandbox) async {}
    func configure(runtimeConfig: String) async throws {}
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ samples: [Double], _ fraction: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
}

func pod(_ index: Int) -> PodSandbox {
    PodSandbox(id: String(repeating: "\(index % 10)", count: 64), name: "pod-\(index)",
               uid: UUID().uuidString.lowercased(), namespace: "default",
               labels: ["app": "bench-\(index)", "io.kubernetes.pod.name": "pod-\(index)",
                        "io.kubernetes.pod.namespace": "default"],
               annotations: ["k8s.v1.cni.cncf.io/networks": "macvlan-conf@net1",
                             "kubernetes.io/config.source": "api"],
               namespaces: [LinuxNamespace(type: "network", path: "/var/run/netns/cni-\(index)"),
                            LinuxNamespace(type: "ipc", path: "/proc/\(index)/ns/ipc")],
               pid: UInt32(index), ips: ["10.88.\(index / 250).\(index % 250 + 2)"])
}

func benchmarkSynchronizeDecode() throws {
    let request = SynchronizeRequest(pods: (0..<1000).map(pod))
    let bytes = request.encoded()
    var samples: [Double] = []
    for _ in 0..<200 {
        let started = ContinuousClock.now
        let decoded = try SynchronizeRequest(decoding: bytes)
        samples.append(milliseconds(ContinuousClock.now - started))
        precondition(decoded.pods.count == 1000)
    }
    print(String(format: "synchronize-decode pods=1000 bytes=%d runs=200 p50=%.3fms p99=%.3fms",
                 bytes.count, percentile(samples, 0.5), percentile(samples, 0.99)))
}

func benchmarkRoundTrip() async throws {
    LogSink.shared.configure(level: .warning, format: .logfmt)
    let path = NSTemporaryDirectory() + "hydra-bench-\(getpid()).sock"
    let runtime = try RuntimeSimulator(socketPath: path)
    let host = PluginHost(options: PluginOptions(socketPath: path), handler: NoNetworks())
    let task = Task { await host.run() }
    var options = RuntimeOptions()
    options.eventStyle = .dedicated
    let connection = try await runtime.acceptPlugin(options: options)

    var samples: [Double] = []
    for index in 0..<1000 {
        let sandbox = pod(index)
        let started = ContinuousClock.now
        let outcome = await connection.runPodSandbox(sandbox)
        samples.append(milliseconds(ContinuousClock.now - started))
        precondition(outcome == .succeeded, "RunPodSandbox failed: \(outcome)")
    }
    print(String(format: "run-pod-sandbox-roundtrip networks=0 events=1000 p50=%.3fms p99=%.3fms",
                 percentile(samples, 0.5), percentile(samples, 0.99)))
    host.stop()
    _ = await task.value
}

let usage = """
    usage: hydra-bench SUBCOMMAND [options]

    subcommands (build with `swift build -c release` first; all but nri need root):
      nri        NRI message decoding and the RunPodSandbox round trip (default)
      chain      a bridge plus portmap CNI chain through the reference plugins
      backends   native bridge and macvlan against the reference plugins
                 [--rounds N] [--backend-dir DIR] [--cni-dir DIR]
      flannel    the flannel backend against a private etcd [--rounds N]

    docs/benchmarks.md describes each figure.
    """

let mode = CommandLine.arguments.dropFirst().first ?? "nri"
do {
    switch mode {
    case "nri":
        try benchmarkSynchronizeDecode()
        try await benchmarkRoundTrip()
    case "chain":
        try await benchmarkChain()
    case "backends":
        try await runBackendsBenchmark(arguments: Array(CommandLine.arguments.dropFirst(2)))
    case "flannel":
        try runFlannelBenchmark(arguments: Array(CommandLine.arguments.dropFirst(2)))
    case "-h", "--help", "help":
        print(usage)
    default:
        LogSink.writeAll("hydra-bench: unknown subcommand \"\(mode)\"\n\(usage)\n", to: STDERR_FILENO)
        exit(2)
    }
} catch {
    LogSink.writeAll("hydra-bench \(mode): \(error)\n", to: STDERR_FILENO)
    exit(1)
}
