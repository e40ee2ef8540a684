import Attachments
import BackendHost
import CNI
import CNIExec
import Foundation
import Glibc
import HydraLog
import Orchestrator

/// Runs a command to set up or tear down the benchmark's namespace and
/// bridge; output goes to /dev/null.
private func runQuietly(_ executable: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CNIError(code: CNIError.internalError,
                       msg: "\(executable) \(arguments.joined(separator: " ")) exited with status \(process.terminationStatus)")
    }
}

/// Attach plus detach of a bridge + host-local + portmap list run by the
/// chain runner with the reference plugins in /usr/lib/cni, into a
/// namespace of its own. Needs root. Prints p50 and p99 of attach, detach
/// and their sum over `runs` pods.
func benchmarkChain(runs: Int = 200) async throws {
    LogSink.shared.configure(level: .error, format: .logfmt)
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let namespace = "hbench-\(suffix)"
    let bridge = "hbb\(suffix.prefix(8))"
    let state = "/tmp/hydra-bench-chain-\(suffix)"
    try runQuietly("/usr/sbin/ip", ["netns", "add", namespace])
    defer {
        try? runQuietly("/usr/sbin/ip", ["netns", "del", namespace])
        try? runQuietly("/usr/sbin/ip", ["link", "del", bridge])
        try? FileManager.default.removeItem(atPath: state)
    }

    let config: JSONValue = [
        "cniVersion": "1.0.0", "name": .string("bench-\(suffix)"),
        "plugins": [
            ["type": "bridge", "bridge": .string(bridge), "isGateway": true, "ipMasq": false,
             "ipam": ["type": "host-local", "subnet": "10.251.0.0/16", "dataDir": .string(state + "/ipam")]],
            ["type": "portmap", "capabilities": ["portMappings": true], "snat": false],
        ],
    ]
    let backends = try BackendLoader(directory: state, stateRoot: state + "/backends").load([])
    let runner = ChainRunner(backends: backends, executor: CNIExecutor(pluginDirectories: ["/usr/lib/cni"]),
                             cacheDirectory: state + "/cni-cache")

    var attachSamples: [Double] = []
    var detachSamples: [Double] = []
    var totalSamples: [Double] = []
    for index in 0..<runs {
        let sandboxID = String(format: "%064x", index)
        let pod = PodReference(namespace: "bench", name: "pod-\(index)", uid: "uid-\(index)")
        let request = AttachmentRequest(
            sandboxID: sandboxID, pod: pod, netnsPath: "/run/netns/\(namespace)", network: "bench",
            definitionNamespace: nil, interface: "net1", config: config,
            runtimeConfig: ["portMappings": [["hostPort": .integer(Int64(40000 + index)), "containerPort": 80,
                                              "protocol": "tcp"]]],
            defaultRoute: [],
            cniArgs: ["K8S_POD_NAMESPACE": "bench", "K8S_POD_NAME": pod.name, "K8S_POD_INFRA_CONTAINER_ID": sandboxID,
                      "K8S_POD_UID": pod.uid])
        let started = ContinuousClock.now
        let result = try await runner.attach(request, deadline: .now + .seconds(10))
        let attached = ContinuousClock.now
        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: .now + .seconds(10))
        let detached = ContinuousClock.now
        attachSamples.append(milliseconds(attached - started))
        detachSamples.append(milliseconds(detached - attached))
        totalSamples.append(milliseconds(detached - started))
    }
    for (name, samples) in [("attach", attachSamples), ("detach", detachSamples), ("attach+detach", totalSamples)] {
        print(String(format: "chain-bridge-hostlocal-portmap %@ runs=%d p50=%.1fms p99=%.1fms",
                     name, runs, percentile(samples, 0.5), percentile(samples, 0.99)))
    }
}
