import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One test's world: a temporary directory (state, host-local data,
/// sockets, logs), unique names for namespaces and bridges, and the
/// processes the test started. `withEndToEnd` tears all of it down.
final class EndToEnd: @unchecked Sendable {
    let binaries: Binaries
    /// Eight hex digits that make every name of this test unique.
    let token: String
    let directory: String
    /// Second and third octet of this test's subnets: network n uses 10.a.(b+n).0/24.
    let subnetBase: (Int, Int)
    private let lock = NSLock()
    private var namespaces: [String] = []
    private var links: [String] = []
    private var processes: [ChildProcess] = []
    private var phase = 0

    init() throws {
        binaries = try Binaries.locate()
        token = String(format: "%08x", UInt32.random(in: 0...UInt32.max))
        directory = "/tmp/hydra-e2e-\(token)"
        subnetBase = (Int.random(in: 160...199), Int.random(in: 0...247))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var stateDir: String { directory + "/state" }
    var ipamDataDir: String { directory + "/ipam" }

    func subnet(_ index: Int) -> String { "10.\(subnetBase.0).\(subnetBase.1 + index).0/24" }

    /// Returns the bridge name of network `index`, at most 12 characters.
    func bridgeName(_ index: Int) -> String { "h2\(token)\(index)" }

    /// Returns a pod's sandbox id, unique to this test.
    func sandboxID(_ pod: String) -> String { "e2e-\(token)-\(pod)" }

    // MARK: Namespaces

    /// Creates a network namespace for `pod` with `ip netns add` and returns its path.
    func makeNamespace(_ pod: String) async throws -> String {
        let name = "h2e-\(token)-\(pod)"
        try await runTool("/usr/sbin/ip", ["netns", "add", name], in: directory)
        lock.withLock { namespaces.append(name) }
        try await runTool("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"], in: directory)
        return "/var/run/netns/\(name)"
    }

    /// Deletes a namespace made by `makeNamespace`.
    func deleteNamespace(_ pod: String) async throws {
        try await runTool("/usr/sbin/ip", ["netns", "del", "h2e-\(token)-\(pod)"], in: directory)
    }

    /// Gives the pod an `eth0` (a veth whose host end is `h2<token>d`) with
    /// `address`, playing the default CNI. Returns eth0's MAC.
    func addDefaultInterface(_ pod: String, address: String) async throws -> String {
        let namespace = "h2e-\(token)-\(pod)"
        let hostEnd = "h2\(token)d"
        try await runTool("/usr/sbin/ip", ["link", "add", hostEnd, "type", "veth", "peer", "name", "eth0",
                                           "netns", namespace], in: directory)
        lock.withLock { links.append(hostEnd) }
        try await runTool("/usr/sbin/ip", ["-n", namespace, "addr", "add", address, "dev", "eth0"], in: directory)
        try await runTool("/usr/sbin/ip", ["-n", namespace, "link", "set", "eth0", "up"], in: directory)
        let json = try await runTool("/usr/sbin/ip", ["-j", "-n", namespace, "link", "show", "eth0"], in: directory)
        let shown = (try JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]]
        guard let mac = shown?.first?["address"] as? String else { throw HarnessError("no MAC for eth0 in \(json)") }
        return mac
    }

    // MARK: Configuration

    /// Builds a bridge network definition on this test's bridge `index` and
    /// subnet `index`, with host-local IPAM under `ipamDataDir`.
    func bridgeNetwork(_ name: String, index: Int, interface: String, isDefault: Bool = false,
                       ipMasq: Bool = false, rangeStart: String? = nil, rangeEnd: String? = nil) -> [String: Any] {
        var range: [String: Any] = ["subnet": subnet(index)]
        if let rangeStart { range["rangeStart"] = rangeStart }
        if let rangeEnd { range["rangeEnd"] = rangeEnd }
        var network: [String: Any] = [
            "name": name, "interface": interface,
            "config": ["cniVersion": "1.0.0", "type": "bridge", "bridge": bridgeName(index), "isGateway": true,
                       "ipMasq": ipMasq,
                       "ipam": ["type": "host-local", "ranges": [[range]], "dataDir": ipamDataDir]] as [String: Any],
        ]
        if isDefault { network["default"] = ["namespaces": ["*"], "labels": [String: String]()] }
        lock.withLock { links.append(bridgeName(index)) }
        return network
    }

    /// Writes Hydra's configuration file and returns its path. The metrics
    /// endpoint is off so no test binds a fixed port.
    func writeConfiguration(networks: [[String: Any]], kubernetes: [String: Any] = ["enabled": false],
                            socket: String, reconcileInterval: Int = 0) throws -> String {
        let configuration: [String: Any] = [
            "nri": ["socket": socket, "pluginName": "hydra", "pluginIndex": "50"],
            "backends": ["dir": binaries.backendsDirectory, "load": [["name": "bridge", "required": true]]],
            "stateDir": stateDir,
            "networks": networks,
            "kubernetes": kubernetes,
            "reconcile": ["intervalSeconds": reconcileInterval],
            "metrics": ["listen": ""],
            "log": ["level": "debug", "format": "logfmt"],
        ]
        let path = "\(directory)/hydra-\(UInt32.random(in: 0...UInt32.max)).json"
        try JSONSerialization.data(withJSONObject: configuration, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: Processes

    /// Registers a process for `tearDown` to stop.
    func track(_ process: ChildProcess) {
        lock.withLock { processes.append(process) }
    }

    /// Starts `hydra run` with `configuration`; `crashAt` sets the test-only crash point.
    func startHydra(configuration: String, crashAt: String? = nil) throws -> ChildProcess {
        let number = lock.withLock { () -> Int in
            phase += 1
            return phase
        }
        var environment: [String: String] = [:]
        if let crashAt { environment["HYDRA_TEST_CRASH_AT"] = crashAt }
        let process = try ChildProcess(binaries.hydra, ["run", "--config", configuration, "--cni-path", "/usr/lib/cni"],
                                       environment: environment, outputPath: "\(directory)/hydra-\(number).out",
                                       errorPath: "\(directory)/hydra-\(number).log")
        lock.withLock { processes.append(process) }
        return process
    }

    /// Starts `hydra-nri-sim` on a fresh socket with `pods`, the Synchronize
    /// list and `steps`, followed by a wait for the release file. Returns
    /// once the socket exists. The request timeout is 10 s rather than the
    /// runtime's 2 s, because parallel tests on a small machine can slow an
    /// attach with masquerade rules past 2 s. Tests that check the 2 s
    /// budget compare the measured time.
    func startSimulation(pods: [[String: Any]], synchronize: [String] = [], steps: [[String: Any]],
                         arguments: [String] = []) async throws -> Simulation {
        let number = UInt32.random(in: 0...UInt32.max)
        let socket = "\(directory)/nri-\(number).sock"
        let release = "\(directory)/release-\(number)"
        let scenario: [String: Any] = ["pods": pods, "synchronize": synchronize,
                                       "steps": steps + [["waitForFile": release]]]
        let scenarioPath = "\(directory)/scenario-\(number).json"
        try JSONSerialization.data(withJSONObject: scenario, options: [.sortedKeys]).write(to: URL(fileURLWithPath: scenarioPath))
        let process = try ChildProcess(binaries.simulator,
                                       ["--socket", socket, "--scenario", scenarioPath, "--request-timeout", "10000"]
                                           + arguments,
                                       outputPath: "\(directory)/sim-\(number).out",
                                       errorPath: "\(directory)/sim-\(number).err")
        lock.withLock { processes.append(process) }
        guard await eventually(timeout: .seconds(10), { FileManager.default.fileExists(atPath: socket) }) else {
            throw HarnessError("hydra-nri-sim did not create \(socket): \(process.errors)")
        }
        return Simulation(process: process, socketPath: socket, releasePath: release)
    }

    /// Runs one session: a simulator with `steps`, Hydra connected to it,
    /// until the steps are done. The caller inspects the node, then calls
    /// `end(_:)`.
    func startSession(networks: [[String: Any]], pods: [[String: Any]], synchronize: [String] = [],
                      steps: [[String: Any]], crashAt: String? = nil, kubernetes: [String: Any] = ["enabled": false],
                      simulatorArguments: [String] = []) async throws -> Session {
        let simulation = try await startSimulation(pods: pods, synchronize: synchronize, steps: steps,
                                                   arguments: simulatorArguments)
        let configuration = try writeConfiguration(networks: networks, kubernetes: kubernetes,
                                                   socket: simulation.socketPath)
        let hydra = try startHydra(configuration: configuration, crashAt: crashAt)
        do {
            try await simulation.waitUntilStepsDone()
        } catch {
            throw HarnessError("\(error); hydra log: \(hydra.errors)\(hydra.output)")
        }
        return Session(simulation: simulation, hydra: hydra)
    }

    /// Lets the simulator finish and stops Hydra with SIGTERM if it still runs.
    func end(_ session: Session) async {
        await session.simulation.release()
        await session.hydra.stop()
    }

    /// Builds a pod entry of a simulator scenario.
    func pod(_ name: String, netns: String?, annotations: [String: String] = [:], ips: [String] = [],
             sandbox: String? = nil) -> [String: Any] {
        var pod: [String: Any] = ["name": name, "namespace": "default", "uid": "uid-\(token)-\(name)",
                                  "id": sandbox ?? sandboxID(name), "annotations": annotations, "ips": ips]
        if let netns { pod["netns"] = netns }
        return pod
    }

    // MARK: Node state

    /// Interface names inside a pod's namespace (`ip -j link show`), loopback excluded.
    func interfaces(_ pod: String) async throws -> [String] {
        let json = try await runTool("/usr/sbin/ip", ["-j", "-n", "h2e-\(token)-\(pod)", "link", "show"], in: directory)
        let links = (try JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] ?? []
        return links.compactMap { $0["ifname"] as? String }.filter { $0 != "lo" }.sorted()
    }

    /// IPv4 addresses with prefix of `interface` inside a pod's namespace.
    func addresses(_ pod: String, interface: String) async throws -> [String] {
        let json = try await runTool("/usr/sbin/ip", ["-j", "-4", "-n", "h2e-\(token)-\(pod)", "addr", "show", "dev", interface],
                                     in: directory)
        let links = (try JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] ?? []
        return links.flatMap { ($0["addr_info"] as? [[String: Any]]) ?? [] }.compactMap { info in
            guard let local = info["local"] as? String, let prefix = info["prefixlen"] as? Int else { return nil }
            return "\(local)/\(prefix)"
        }
    }

    /// Ports of this test's bridge `index` in the host namespace (veth host ends).
    func bridgePorts(_ index: Int) async throws -> [String] {
        guard FileManager.default.fileExists(atPath: "/sys/class/net/\(bridgeName(index))") else { return [] }
        let json = try await runTool("/usr/sbin/ip", ["-j", "link", "show", "master", bridgeName(index)], in: directory)
        let links = (try JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] ?? []
        return links.compactMap { $0["ifname"] as? String }.sorted()
    }

    /// Addresses host-local has reserved for `network`: the files named after
    /// an address in `<dataDir>/<network>/`.
    func reservedAddresses(_ network: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(ipamDataDir)/\(network)")) ?? []
        return names.filter { $0.first?.isNumber == true && !$0.hasPrefix("last_reserved_ip") }.sorted()
    }

    /// Sandbox record files in the state directory.
    func recordFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(stateDir)/sandboxes")) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    /// Decoded record of a sandbox, or nil.
    func record(_ sandbox: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: "\(stateDir)/sandboxes/\(sandbox).json") else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// nat-table rules (`iptables -t nat -S`) that mention this test's token.
    func natRules() async throws -> [String] {
        let rules = try await runTool("/usr/sbin/iptables", ["--wait", "-t", "nat", "-S"], in: directory)
        return rules.split(separator: "\n").map(String.init).filter { $0.contains(token) }
    }

    // MARK: Teardown

    /// Stops the processes, deletes the namespaces, links, nat rules and the directory.
    func tearDown() async {
        for process in lock.withLock({ processes }) { await process.stop() }
        for namespace in lock.withLock({ namespaces }) {
            _ = try? await runTool("/usr/sbin/ip", ["netns", "del", namespace], in: directory)
        }
        for link in lock.withLock({ links }) where FileManager.default.fileExists(atPath: "/sys/class/net/\(link)") {
            _ = try? await runTool("/usr/sbin/ip", ["link", "del", link], in: directory)
        }
        await removeNatRules()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Deletes leftover nat rules and chains of this test, so a failed test
    /// leaves nothing behind. Only rules whose comment names this test's
    /// sandboxes are touched.
    private func removeNatRules() async {
        guard let rules = try? await natRules(), !rules.isEmpty else { return }
        var chains: Set<String> = []
        for rule in rules where rule.hasPrefix("-A ") {
            let words = rule.split(separator: " ").map(String.init)
            if let jump = words.firstIndex(of: "-j"), jump + 1 < words.count, words[jump + 1].hasPrefix("CNI-") {
                chains.insert(words[jump + 1])
            }
            let arguments = shellWords(String(rule.dropFirst(3)))
            _ = try? await runTool("/usr/sbin/iptables", ["--wait", "-t", "nat", "-D"] + arguments, in: directory)
        }
        for chain in chains {
            _ = try? await runTool("/usr/sbin/iptables", ["--wait", "-t", "nat", "-F", chain], in: directory)
            _ = try? await runTool("/usr/sbin/iptables", ["--wait", "-t", "nat", "-X", chain], in: directory)
        }
    }
}

/// Splits an `iptables -S` line into arguments, honouring double quotes.
func shellWords(_ line: String) -> [String] {
    var words: [String] = []
    var current = ""
    var quoted = false
    var escaped = false
    for character in line {
        if escaped {
            current.append(character)
            escaped = false
        } else if character == "\\" {
            escaped = true
        } else if character == "\"" {
            quoted.toggle()
        } else if character == " " && !quoted {
            if !current.isEmpty { words.append(current) }
            current = ""
        } else {
            current.append(character)
        }
    }
    if !current.isEmpty { words.append(current) }
    return words
}

/// A simulator and the Hydra process connected to it.
struct Session {
    let simulation: Simulation
    let hydra: ChildProcess
}

/// Runs `body` with a fresh world and tears it down afterwards, also when
/// `body` throws.
func withEndToEnd(_ body: (EndToEnd) async throws -> Void) async throws {
    let world = try EndToEnd()
    do {
        try await body(world)
    } catch {
        await world.tearDown()
        throw error
    }
    await world.tearDown()
}
