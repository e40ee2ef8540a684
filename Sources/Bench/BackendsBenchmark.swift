// `hydra-bench backends`: attach and detach times of the native bridge and
// macvlan backends against the reference CNI plugins, plus the kernel's own
// cost of deleting a veth as the floor for detach.
import BackendHost
import BackendSDK
import CNI
import CNIExec
import Foundation
import Glibc
import HydraLog
import Netlink
import Netns
import NetworkSetup

/// Settings of the backends benchmark, from the command line.
struct BackendsBenchmarkOptions {
    /// Rounds per measured operation.
    var rounds = 200
    /// Directory of the built `libhydra-backend-*.so` files; by default the
    /// directory of the running hydra-bench.
    var backendDirectory = BackendsBenchmarkOptions.executableDirectory()
    /// Directory of the reference CNI plugins (Debian containernetworking-plugins).
    var referencePluginDirectory = "/usr/lib/cni"

    static let usage = """
        usage: hydra-bench backends [--rounds N] [--backend-dir DIR] [--cni-dir DIR]
          --rounds       rounds per operation (default 200)
          --backend-dir  directory of libhydra-backend-bridge.so and -macvlan.so
                         (default: the directory of hydra-bench)
          --cni-dir      directory of the reference CNI plugins (default /usr/lib/cni)
        Runs as root inside a network namespace of its own, created and deleted here.

        """

    init(arguments: [String]) throws {
        var remaining = arguments[...]
        while let option = remaining.popFirst() {
            guard let value = remaining.popFirst() else { throw BenchError("option \(option) needs a value") }
            switch option {
            case "--rounds":
                guard let rounds = Int(value), rounds > 0 else { throw BenchError("invalid --rounds \(value)") }
                self.rounds = rounds
            case "--backend-dir": backendDirectory = value
            case "--cni-dir": referencePluginDirectory = value
            default: throw BenchError("unknown option \(option)")
            }
        }
    }

    var arguments: [String] {
        ["--rounds", String(rounds), "--backend-dir", backendDirectory, "--cni-dir", referencePluginDirectory]
    }

    static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return "." }
        return (String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) as NSString)
            .deletingLastPathComponent
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the backends benchmark. The first invocation creates a named network
/// namespace and runs itself again inside it with `ip netns exec`, so that
/// the bridges, the macvlan parent, the sysctls and the iptables rules of the
/// benchmark never touch the machine's own namespace.
func runBackendsBenchmark(arguments: [String]) async throws {
    let options = try BackendsBenchmarkOptions(arguments: arguments)
    guard getuid() == 0 else { throw BenchError("hydra-bench backends needs root") }
    if ProcessInfo.processInfo.environment["HYDRA_BENCH_NAMESPACE"] == nil {
        try runInsideBenchmarkNamespace(options)
        return
    }
    LogSink.shared.configure(level: .warning, format: .logfmt)
    let bench = try BackendsBenchmark(options: options)
    defer { bench.cleanUp() }
    try await bench.run()
}

/// Creates `hbench-<random>`, runs this program in it and deletes it.
private func runInsideBenchmarkNamespace(_ options: BackendsBenchmarkOptions) throws {
    let name = "hbench-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    try command("/usr/sbin/ip", ["netns", "add", name])
    defer { _ = try? command("/usr/sbin/ip", ["netns", "del", name]) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    // `ip netns exec` runs the program given by path, so pass the resolved one.
    process.arguments = ["netns", "exec", name, selfPath(), "backends"] + options.arguments
    var environment = ProcessInfo.processInfo.environment
    environment["HYDRA_BENCH_NAMESPACE"] = name
    process.environment = environment
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw BenchError("benchmark inside namespace \(name) exited with status \(process.terminationStatus)")
    }
}

private func selfPath() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return count > 0 ? String(cString: Array(buffer[0..<count]) + [0]) : CommandLine.arguments[0]
}

/// Runs a program and returns its standard output; throws when it exits non-zero.
@discardableResult
func command(_ path: String, _ arguments: [String]) throws -> String {
    let output = try Subprocess.run(path, arguments)
    guard output.status == 0 else {
        throw BenchError("\(([path] + arguments).joined(separator: " ")) exited with status \(output.status): \(output.standardError)")
    }
    return output.standardOutput
}

/// Latency samples of one operation, in milliseconds.
struct LatencySamples {
    var values: [Double] = []

    mutating func time<T>(_ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        let value = try await body()
        let elapsed = ContinuousClock.now - started
        values.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        return value
    }

    /// The nearest-rank percentile, `fraction` in (0, 1].
    func percentile(_ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * fraction).rounded(.up)) - 1))]
    }

    var p50: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
}

/// One network configuration measured through both implementations.
struct BenchNetwork {
    let label: String
    let nativeConfig: JSONValue
    let referenceConfig: JSONValue
}

/// The benchmark state inside its namespace: the loaded backends, the pod
/// namespaces and the temporary directory.
final class BackendsBenchmark {
    let options: BackendsBenchmarkOptions
    let directory: String
    let executor: CNIExecutor
    let bridge: LoadedBackend
    let macvlan: LoadedBackend
    /// Named pod namespaces created here, deleted by `cleanUp`.
    private var podNamespaces: [String] = []
    private let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)

    init(options: BackendsBenchmarkOptions) throws {
        self.options = options
        directory = NSTemporaryDirectory() + "hydra-bench-backends-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        executor = CNIExecutor(pluginDirectories: [options.referencePluginDirectory])
        // Loaded as the daemon loads them: dlopen of the built .so files,
        // init with a host services table, calls through the C table.
        let loader = BackendLoader(directory: options.backendDirectory, stateRoot: directory + "/state",
                                   executor: executor)
        bridge = try loader.loadOne(BackendSpec(name: "bridge"))
        macvlan = try loader.loadOne(BackendSpec(name: "macvlan"), alongside: [bridge])
        try command("/usr/sbin/ip", ["link", "set", "lo", "up"])
    }

    func cleanUp() {
        bridge.shutdown()
        macvlan.shutdown()
        for name in podNamespaces { _ = try? command("/usr/sbin/ip", ["netns", "del", name]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func run() async throws {
        let kernel = (try? command("/usr/bin/uname", ["-r"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        let cpu = cpuModel()
        print("# hydra-bench backends: rounds=\(options.rounds) kernel=\(kernel) cpus=\(ProcessInfo.processInfo.activeProcessorCount) cpu=\"\(cpu)\"")
        print("# native = \(options.backendDirectory)/libhydra-backend-*.so through BackendLoader; reference = \(options.referencePluginDirectory) exec'd by CNIExecutor")

        try command("/usr/sbin/ip", ["link", "add", "hbparent", "type", "veth", "peer", "name", "hbparent-peer"])
        try command("/usr/sbin/ip", ["link", "set", "hbparent", "up"])
        try command("/usr/sbin/ip", ["link", "set", "hbparent-peer", "up"])

        var rows: [String] = []
        let floor = try vethDeletionFloor(topology: .plain)
        rows.append(row("veth delete (netlink, floor)", "", floor, nil))
        let unlisted = try vethDeletionFloor(topology: .plain, untilUnlisted: true)
        rows.append(row("veth delete, until the RTM_DELLINK notification", "", unlisted, nil))
        let portFloor = try vethDeletionFloor(topology: .bridgePort)
        rows.append(row("veth delete, up, bridge port", "", portFloor, nil))
        let macvlanFloor = try vethDeletionFloor(topology: .macvlan)
        rows.append(row("macvlan delete, up", "", macvlanFloor, nil))

        let networks = [
            bridgeNetwork(label: "bridge", index: 1, ipMasq: false),
            macvlanNetwork(label: "macvlan", index: 3),
            bridgeNetwork(label: "bridge ipMasq", index: 5, ipMasq: true),
        ]
        for network in networks {
            let backend = network.label.hasPrefix("macvlan") ? macvlan : bridge
            let (nativeAttach, nativeDetach) = try await measureNative(network, backend: backend)
            let (referenceAdd, referenceDel) = try measureReference(network)
            rows.append(row("\(network.label) attach", "native / reference ADD", nativeAttach, referenceAdd))
            rows.append(row("\(network.label) detach", "native / reference DEL", nativeDetach, referenceDel))
            let sameTopology = network.label.hasPrefix("macvlan") ? macvlanFloor : portFloor
            let attachedFloor = try attachedDeletionFloor(network)
            rows.append(row("\(network.label): delete attached interface (netlink, floor)", "", attachedFloor, nil))
            print(String(format: "%@: native detach p50 / veth floor p50 = %.2f, / same-topology floor p50 = %.2f, / attached-interface floor p50 = %.2f",
                         network.label, nativeDetach.p50 / floor.p50, nativeDetach.p50 / sameTopology.p50,
                         nativeDetach.p50 / attachedFloor.p50))
        }

        print("")
        print("| operation | compared | native p50 | native p99 | reference p50 | reference p99 | p50 ratio |")
        print("|---|---|---|---|---|---|---|")
        for line in rows { print(line) }
    }

    // MARK: - Measurements

    /// The device whose deletion `vethDeletionFloor` times.
    enum FloorTopology {
        /// A veth pair, both ends down, the peer in a pod namespace.
        case plain
        /// As `plain`, but both ends up and the host end a port of a bridge,
        /// as a bridge attachment leaves it.
        case bridgePort
        /// An up macvlan in a pod namespace on the benchmark's parent veth.
        case macvlan
    }

    /// Times the netlink deletion of a device from this process: the
    /// kernel's own cost, which any detach pays. The bridge port and
    /// macvlan variants are deleted from inside the pod namespace, where
    /// detach deletes them.
    ///
    /// With `untilUnlisted`, the time ends when a `LinkRemovalWatch` in the
    /// pod namespace receives the RTM_DELLINK notification, as in detach.
    /// The request then finishes on a background thread.
    private func vethDeletionFloor(topology: FloorTopology, untilUnlisted: Bool = false) throws -> LatencySamples {
        let pod = try makePodNamespace()
        let socket = try NetlinkSocket()
        let podSocket = try pod.run { try NetlinkSocket() }
        var bridgeIndex: Int32 = 0
        if topology == .bridgePort {
            try socket.addBridge(name: "hbfloorbr")
            bridgeIndex = try socket.link(named: "hbfloorbr").index
            try socket.setUp(index: bridgeIndex)
        }
        let parentIndex = try socket.link(named: "hbparent").index

        var samples = LatencySamples()
        for _ in 0..<options.rounds {
            let target: (socket: NetlinkSocket, index: Int32)
            switch topology {
            case .plain:
                try socket.addVethPair(name: "hbfloor", peerName: "eth9", peerNamespaceFD: pod.fileDescriptor)
                target = (socket, try socket.link(named: "hbfloor").index)
            case .bridgePort:
                try socket.addVethPair(name: "hbfloor", peerName: "eth9", peerNamespaceFD: pod.fileDescriptor)
                let hostIndex = try socket.link(named: "hbfloor").index
                try socket.setMaster(index: hostIndex, masterIndex: bridgeIndex)
                try socket.setUp(index: hostIndex)
                let podIndex = try podSocket.link(named: "eth9").index
                try podSocket.setUp(index: podIndex)
                target = (podSocket, podIndex)
            case .macvlan:
                try socket.addMacvlan(name: "eth9", parentIndex: parentIndex, mode: .bridge, namespaceFD: pod.fileDescriptor)
                let podIndex = try podSocket.link(named: "eth9").index
                try podSocket.setUp(index: podIndex)
                target = (podSocket, podIndex)
            }
            if untilUnlisted {
                let watch = try pod.run { try LinkRemovalWatch() }
                let podIndex = try podSocket.link(named: "eth9").index
                try samples.timeSync {
                    let deletion = try LinkDeletion(index: target.index, socket: target.socket)
                    try deletion.waitForRemoval([(watch, podIndex)], deadline: .after(seconds: 10))
                }
            } else {
                try samples.timeSync { try target.socket.deleteLink(index: target.index) }
            }
        }
        return samples
    }

    /// Times the netlink deletion of the pod interface that the reference
    /// plugin has just attached: the kernel's cost of deleting an interface
    /// in the state a detach finds it (up, addressed, IPv6 link-local
    /// configured), without any plugin code. The reference DEL that follows
    /// only releases the address and is not timed.
    private func attachedDeletionFloor(_ network: BenchNetwork) throws -> LatencySamples {
        let pod = try makePodNamespace()
        let podSocket = try pod.run { try NetlinkSocket() }
        let plugin = network.referenceConfig["type"]?.stringValue ?? ""
        var samples = LatencySamples()
        for round in 0..<options.rounds {
            let containerID = "hbench-floor-\(suffix)-\(round)"
            let add = CNIInvocation(command: "ADD", pluginType: plugin, stdinData: network.referenceConfig.encoded(),
                                    containerID: containerID, netns: pod.path, ifName: "net1")
            _ = try executor.add(add, deadlineNanoseconds: MonotonicClock.now() + 10_000_000_000)
            let index = try podSocket.link(named: "net1").index
            try samples.timeSync { try podSocket.deleteLink(index: index) }
            let del = CNIInvocation(command: "DEL", pluginType: plugin, stdinData: network.referenceConfig.encoded(),
                                    containerID: containerID, netns: pod.path, ifName: "net1")
            try executor.delete(del, deadlineNanoseconds: MonotonicClock.now() + 10_000_000_000)
        }
        return samples
    }

    private func measureNative(_ network: BenchNetwork, backend: LoadedBackend) async throws -> (LatencySamples, LatencySamples) {
        let pod = try makePodNamespace()
        var attach = LatencySamples()
        var detach = LatencySamples()
        for round in 0..<options.rounds {
            var request = AttachRequest(sandboxID: "hbench-native-\(suffix)-\(round)", netns: pod.path, ifName: "net1",
                                        networkName: network.nativeConfig["name"]?.stringValue ?? "",
                                        config: network.nativeConfig)
            let result = try await attach.time { try await backend.attach(request, deadline: .after(seconds: 10)) }
            request.prevResult = try result.jsonValue()
            try await detach.time { try await backend.detach(request, deadline: .after(seconds: 10)) }
        }
        return (attach, detach)
    }

    private func measureReference(_ network: BenchNetwork) throws -> (LatencySamples, LatencySamples) {
        let pod = try makePodNamespace()
        let plugin = network.referenceConfig["type"]?.stringValue ?? ""
        var add = LatencySamples()
        var del = LatencySamples()
        for round in 0..<options.rounds {
            let containerID = "hbench-reference-\(suffix)-\(round)"
            let addInvocation = CNIInvocation(command: "ADD", pluginType: plugin, stdinData: network.referenceConfig.encoded(),
                                              containerID: containerID, netns: pod.path, ifName: "net1")
            let result = try add.timeSync { try executor.add(addInvocation, deadlineNanoseconds: MonotonicClock.now() + 10_000_000_000) }
            // libcni sends the cached ADD result as prevResult with DEL.
            var delConfig = network.referenceConfig.objectValue ?? [:]
            delConfig["prevResult"] = try result.jsonValue()
            let delInvocation = CNIInvocation(command: "DEL", pluginType: plugin, stdinData: JSONValue.object(delConfig).encoded(),
                                              containerID: containerID, netns: pod.path, ifName: "net1")
            try del.timeSync { try executor.delete(delInvocation, deadlineNanoseconds: MonotonicClock.now() + 10_000_000_000) }
        }
        return (add, del)
    }

    // MARK: - Setup

    private func bridgeNetwork(label: String, index: Int, ipMasq: Bool) -> BenchNetwork {
        func config(_ side: String, _ subnet: Int) -> JSONValue {
            [
                "cniVersion": "1.0.0", "name": .string("hbench-\(side)-\(index)"), "type": "bridge",
                "bridge": .string("hb\(side.prefix(1))\(index)"), "isGateway": true, "ipMasq": .bool(ipMasq),
                "ipam": ["type": "host-local", "subnet": .string("10.250.\(subnet).0/24"),
                         "dataDir": .string(directory + "/ipam")],
            ]
        }
        return BenchNetwork(label: label, nativeConfig: config("native", index), referenceConfig: config("reference", index + 1))
    }

    private func macvlanNetwork(label: String, index: Int) -> BenchNetwork {
        func config(_ side: String, _ subnet: Int) -> JSONValue {
            [
                "cniVersion": "1.0.0", "name": .string("hbench-\(side)-\(index)"), "type": "macvlan",
                "master": "hbparent", "mode": "bridge",
                "ipam": ["type": "host-local", "subnet": .string("10.250.\(subnet).0/24"),
                         "dataDir": .string(directory + "/ipam")],
            ]
        }
        return BenchNetwork(label: label, nativeConfig: config("native", index), referenceConfig: config("reference", index + 1))
    }

    private func makePodNamespace() throws -> NetworkNamespace {
        let name = "hbpod-\(suffix)-\(podNamespaces.count)"
        try command("/usr/sbin/ip", ["netns", "add", name])
        podNamespaces.append(name)
        try command("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
        return try NetworkNamespace(path: "/run/netns/\(name)")
    }

    private func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":")
        else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    private func row(_ operation: String, _ compared: String, _ native: LatencySamples, _ reference: LatencySamples?) -> String {
        func ms(_ value: Double) -> String { String(format: "%.3f ms", value) }
        guard let reference else {
            return "| \(operation) | \(compared) | \(ms(native.p50)) | \(ms(native.p99)) | | | |"
        }
        return "| \(operation) | \(compared) | \(ms(native.p50)) | \(ms(native.p99)) | \(ms(reference.p50)) | \(ms(reference.p99)) | "
            + String(format: "%.1f×", reference.p50 / native.p50) + " |"
    }
}

extension LatencySamples {
    mutating func timeSync<T>(_ body: () throws -> T) rethrows -> T {
        let started = ContinuousClock.now
        let value = try body()
        let elapsed = ContinuousClock.now - started
        values.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        return value
    }
}
