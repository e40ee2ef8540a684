import EtcdTestSupport
import Etcd
import Foundation
import Netns
import NetworkSetup
import Testing
@testable import FlannelNetwork

/// The built programs next to the test bundle: SwiftPM puts every product
/// of the package in one directory.
struct FlannelBinaries {
    let directory: String
    var hydra: String { directory + "/hydra" }
    var simulator: String { directory + "/hydra-nri-sim" }

    /// Walks up from the test bundle to the directory holding `hydra`,
    /// `hydra-nri-sim` and `libhydra-backend-flannel.so`.
    static func locate() throws -> FlannelBinaries {
        let required = ["hydra", "hydra-nri-sim", "libhydra-backend-flannel.so"]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            url.deleteLastPathComponent()
            if required.allSatisfy({ FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }) {
                return FlannelBinaries(directory: url.path)
            }
        }
        throw CommandFailed(command: "\(required.joined(separator: ", ")) not found near \(CommandLine.arguments[0]); "
                                + "run `swift build` with the same scratch path first", status: -1)
    }
}

/// A program started with Foundation's `Process`, standard output and error
/// appended to one log file. Only used from `offPool` threads.
final class LoggedProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], logPath: String) throws {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for the exit, at most 10 s before SIGKILL.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// etcd inside the underlay namespace, listening on the underlay bridge's
/// address so that every node namespace reaches it. Its peer URL stays on
/// that namespace's loopback.
final class UnderlayEtcd: @unchecked Sendable {
    let namespace: Namespace
    let address: String
    let dataDirectory: String
    let logPath: String
    private var process: LoggedProcess?
    var endpoint: String { "http://\(address):2379" }

    init(namespace: Namespace, address: String, root: String) throws {
        self.namespace = namespace
        self.address = address
        dataDirectory = root + "/etcd"
        logPath = root + "/etcd.log"
        try start()
    }

    func start() throws {
        let peer = "http://127.0.0.1:2380"
        process = try LoggedProcess("/usr/sbin/ip", [
            "netns", "exec", namespace.name, "/usr/bin/etcd", "--name", "underlay", "--data-dir", dataDirectory,
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "underlay=\(peer)", "--log-level", "error",
        ], logPath: logPath)
        guard eventually(20, { (try? self.etcdctl(["endpoint", "health"])) != nil }) else {
            throw CommandFailed(command: "etcd on \(endpoint) in \(namespace.name) did not become ready", status: -1)
        }
    }

    func stop() {
        process?.stop()
        process = nil
    }

    /// Runs etcdctl (API v3) inside the underlay namespace against this etcd.
    @discardableResult
    func etcdctl(_ arguments: [String]) throws -> String {
        try sh("/usr/sbin/ip", ["netns", "exec", namespace.name, "/usr/bin/etcdctl", "--endpoints", endpoint,
                                "--dial-timeout", "2s"] + arguments)
    }
}

/// Two simulated nodes, each running its own `hydra run` process inside
/// its node namespace with the flannel backend loaded from the built
/// library, and its own `hydra-nri-sim` playing the runtime.
@Suite(.serialized) struct FlannelProcessTests {
    struct ProcessNode {
        let namespace: Namespace
        let address: String
        let directory: String
        let hydra: LoggedProcess
        let simulator: LoggedProcess
        /// Creating this file lets the simulator run its second pod.
        let gate: String
        let release: String
        let pods: [Namespace]
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func twoHydraProcessesSurviveEtcdOutage() async throws {
        try await offPool {
            let binaries = try FlannelBinaries.locate()
            let root = NSTemporaryDirectory() + "hydra-flannel-proc-\(randomSuffix())"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let net = Int.random(in: 10...250)
            let prefix = "/hydra-test-\(randomSuffix())/network"
            let underlay = try Namespace("hfu")
            var nodes: [ProcessNode] = []
            var etcd: UnderlayEtcd?
            defer {
                for node in nodes {
                    node.hydra.stop()
                    _ = FileManager.default.createFile(atPath: node.release, contents: nil)
                    _ = FileManager.default.createFile(atPath: node.gate, contents: nil)
                    node.simulator.stop()
                    node.pods.forEach { $0.remove() }
                    node.namespace.remove()
                }
                etcd?.stop()
                underlay.remove()
                try? FileManager.default.removeItem(atPath: root)
            }
            try underlay.ip(["link", "add", "ubr", "type", "bridge"])
            try underlay.ip(["addr", "add", "192.168.\(net).254/24", "dev", "ubr"])
            try underlay.ip(["link", "set", "ubr", "up"])
            let server = try UnderlayEtcd(namespace: underlay, address: "192.168.\(net).254", root: root)
            etcd = server
            try server.etcdctl(["put", prefix + "/config", #"{"Network":"10.240.0.0/16","Backend":{"Type":"vxlan","VNI":2}}"#])

            for index in 1...2 {
                let namespace = try Namespace("hfn\(index)")
                let port = "u\(index)-\(randomSuffix().prefix(6))"
                try underlay.ip(["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace.name])
                try underlay.ip(["link", "set", port, "master", "ubr", "up"])
                let address = "192.168.\(net).\(index)"
                try namespace.ip(["addr", "add", "\(address)/24", "dev", "eth0"])
                try namespace.ip(["link", "set", "eth0", "up"])
                let directory = "\(root)/node\(index)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let pods = [try Namespace("hfp"), try Namespace("hfp")]
                let socket = directory + "/nri.sock"
                let gate = directory + "/gate"
                let release = directory + "/release"
                let scenario: [String: Any] = [
                    "pods": pods.enumerated().map { number, pod in
                        ["name": "p\(number)", "namespace": "default", "uid": "uid-\(pod.name)",
                         "id": "sb-\(pod.name)", "netns": pod.path, "annotations": [String: String](), "ips": [String]()]
                    },
                    "steps": [["run": "p0"], ["waitForFile": gate], ["run": "p1"], ["waitForFile": release]],
                ]
                try JSONSerialization.data(withJSONObject: scenario).write(to: URL(fileURLWithPath: directory + "/scenario.json"))
                let simulator = try LoggedProcess(binaries.simulator, ["--socket", socket, "--scenario", directory + "/scenario.json",
                                                                       "--request-timeout", "10000", "--accept-timeout", "120000"],
                                                  logPath: directory + "/sim.log")
                #expect(eventually { FileManager.default.fileExists(atPath: socket) })

                // The network definition in the flannel CNI plugin's shape, as clusters that ran flanneld have it.
                let configuration: [String: Any] = [
                    "nri": ["socket": socket, "pluginName": "hydra", "pluginIndex": "50"],
                    "backends": ["dir": binaries.directory, "load": [[
                        "name": "flannel", "required": true,
                        "config": ["etcdEndpoints": [server.endpoint], "etcdPrefix": prefix, "iface": "eth0",
                                   "subnetFile": directory + "/subnet.env", "bridge": "hfl0", "retryMaxSeconds": 2] as [String: Any],
                    ] as [String: Any]]] as [String: Any],
                    "stateDir": directory + "/state",
                    "networks": [[
                        "name": "hydra-cni", "interface": "net1",
                        "default": ["namespaces": ["*"], "labels": [String: String]()] as [String: Any],
                        "config": ["cniVersion": "1.0.0", "type": "flannel",
                                   "delegate": ["isDefaultGateway": false]] as [String: Any],
                    ] as [String: Any]],
                    "kubernetes": ["enabled": false],
                    "reconcile": ["intervalSeconds": 0],
                    "metrics": ["listen": ""],
                    "log": ["level": "debug", "format": "logfmt"],
                ]
                try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: directory + "/hydra.json"))
                let hydra = try LoggedProcess("/usr/sbin/ip", ["netns", "exec", namespace.name, binaries.hydra, "run",
                                                               "--config", directory + "/hydra.json", "--cni-path", "/usr/lib/cni"],
                                              logPath: directory + "/hydra.log")
                nodes.append(ProcessNode(namespace: namespace, address: address, directory: directory, hydra: hydra,
                                         simulator: simulator, gate: gate, release: release, pods: pods))
            }

            // Each node's first pod gets net1 from its node's subnet.
            var subnets: [String] = []
            var first: [String] = []
            for node in nodes {
                let attached = eventually(60) { podAddress(node.pods[0]) != nil }
                #expect(attached, "hydra log: \(node.hydra.log) simulator: \(node.simulator.log)")
                guard attached else { return }
                let env = try String(contentsOfFile: node.directory + "/subnet.env", encoding: .utf8)
                let subnet = try #require(env.split(separator: "\n").first { $0.hasPrefix("FLANNEL_SUBNET=") })
                subnets.append(String(subnet.dropFirst("FLANNEL_SUBNET=".count)))
                first.append(podAddress(node.pods[0])!)
            }
            #expect(subnets[0] != subnets[1])
            #expect(first[0].hasPrefix(subnets[0].split(separator: ".").prefix(3).joined(separator: ".") + "."))
            #expect(eventually(20) { nodes[0].pods[0].ping(first[1]) })
            #expect(nodes[1].pods[0].ping(first[0]))

            // etcd away for 30 s: traffic keeps flowing and a new pod attaches.
            server.stop()
            let outageEnd = Date().addingTimeInterval(30)
            _ = FileManager.default.createFile(atPath: nodes[0].gate, contents: nil)
            #expect(eventually(20) { podAddress(nodes[0].pods[1]) != nil }, "hydra log: \(nodes[0].hydra.log)")
            let late = podAddress(nodes[0].pods[1]) ?? "0.0.0.0"
            var pings = 0
            while Date() < outageEnd {
                #expect(nodes[0].pods[0].ping(first[1]))
                #expect(nodes[0].pods[1].ping(first[1]))
                #expect(nodes[1].pods[0].ping(late))
                pings += 1
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(pings > 5)
            for node in nodes { #expect(node.hydra.process.isRunning) }

            // etcd back: the watches resume, a flanneld-format lease reaches both nodes, traffic still flows.
            try server.start()
            let value = #"{"PublicIP":"192.0.2.50","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"0e:1f:2a:3b:4c:70"}}"#
            try server.etcdctl(["put", prefix + "/subnets/10.240.250.0-24", value])
            for node in nodes {
                #expect(eventually(30) {
                    ((try? node.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? "").contains("10.240.250.0/24 via 10.240.250.0 onlink")
                })
            }
            #expect(nodes[0].pods[0].ping(first[1]))
            #expect(nodes[1].pods[0].ping(late))
            let leases = try server.etcdctl(["get", "--prefix", "--keys-only", prefix + "/subnets/"])
            for subnet in subnets {
                let parts = subnet.split(separator: "/")
                let network = parts[0].split(separator: ".").prefix(3).joined(separator: ".") + ".0"
                #expect(leases.contains("\(prefix)/subnets/\(network)-\(parts[1])"))
            }
        }
    }
}

/// The peer state after the lease watch lost history: leases written and
/// deleted while the backend could not reach etcd, then compacted away.
@Suite(.serialized) struct FlannelCompactionTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func peersMatchEtcdAfterCompactedOutage() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node = try cluster.addNode(1)
            let own = try #require(node.lease)
            func lease(_ publicIP: String, _ mac: String) -> Data {
                Data(#"{"PublicIP":"\#(publicIP)","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"\#(mac)"}}"#.utf8)
            }
            let subnets = cluster.prefix + "/subnets/"
            try cluster.client().put(subnets + "10.240.101.0-24", value: lease("192.0.2.101", "0e:1f:2a:3b:4c:01"))
            try cluster.client().put(subnets + "10.240.102.0-24", value: lease("192.0.2.102", "0e:1f:2a:3b:4c:02"))
            #expect(eventually { node.backend!.node.programmedPeers.count == 2 })

            // etcd comes back on another client port the backend does not
            // know, so its watch stays down while the history changes.
            etcd.kill()
            let hiddenPort = freeLoopbackPort()
            let hidden = "http://127.0.0.1:\(hiddenPort)"
            let peer = "http://127.0.0.1:\(etcd.peerPort)"
            let side = Process()
            side.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
            side.arguments = ["--name", "hydra-test", "--data-dir", etcd.dataDirectory,
                              "--listen-client-urls", hidden, "--advertise-client-urls", hidden,
                              "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                              "--initial-cluster", "hydra-test=\(peer)", "--log-level", "error"]
            side.standardOutput = FileHandle.nullDevice
            side.standardError = FileHandle.nullDevice
            try side.run()
            defer { if side.isRunning { side.terminate(); side.waitUntilExit() } }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [hidden]))
            #expect(eventually(20) { (try? client.range(subnets, prefix: true)) != nil })
            try client.delete(subnets + "10.240.101.0-24")
            try client.put(subnets + "10.240.102.0-24", value: lease("192.0.2.112", "0e:1f:2a:3b:4c:12"))
            try client.put(subnets + "10.240.103.0-24", value: lease("192.0.2.103", "0e:1f:2a:3b:4c:03"))
            try client.put(subnets + "10.240.104.0-24", value: lease("192.0.2.104", "0e:1f:2a:3b:4c:04"))
            let last = try client.delete(subnets + "10.240.104.0-24")
            #expect(last == 1)
            let revision = try client.put(cluster.prefix + "/unrelated", value: Data("x".utf8))
            try client.compact(revision: revision)
            side.terminate()
            side.waitUntilExit()
            try etcd.start()

            // The programmed peers, and the kernel's routes, neighbours and
            // FDB entries on flannel.2, end up exactly as etcd lists them.
            let expected: [(subnet: String, publicIP: String, mac: String)] = [
                ("10.240.102.0", "192.0.2.112", "0e:1f:2a:3b:4c:12"), ("10.240.103.0", "192.0.2.103", "0e:1f:2a:3b:4c:03"),
            ]
            func peerRoutes() -> [String] {
                let routes = (try? node.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? ""
                return routes.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.contains("onlink") }.sorted()
            }
            let expectedRoutes = expected.map { "\($0.subnet)/24 via \($0.subnet) onlink" }.sorted()
            #expect(eventually(30) { peerRoutes() == expectedRoutes }, "routes: \(peerRoutes())")
            let listed = try cluster.client().range(subnets, prefix: true).kvs.map { String($0.key.dropFirst(subnets.count)) }
            #expect(listed.sorted() == (expected.map { "\($0.subnet)-24" } + ["\(own.subnet.networkAddress)-24"]).sorted())
            #expect(node.backend!.node.programmedPeers.map { "\($0.subnet)" } == expected.map { "\($0.subnet)/24" })
            let neighbours = try node.namespace.ip(["neigh", "show", "dev", "flannel.2"])
            let fdb = try sh("/usr/sbin/bridge", ["-n", node.namespace.name, "fdb", "show", "dev", "flannel.2"])
            for peer in expected {
                #expect(neighbours.contains("\(peer.subnet) lladdr \(peer.mac) PERMANENT"))
                #expect(fdb.contains("\(peer.mac) dst \(peer.publicIP) self permanent"))
            }
            for removed in ["10.240.101.0", "10.240.104.0", "0e:1f:2a:3b:4c:01", "0e:1f:2a:3b:4c:02", "0e:1f:2a:3b:4c:04"] {
                #expect(!neighbours.contains(removed))
                #expect(!fdb.contains(removed))
            }
        }
    }

    /// The backend lists the leases, then its watch request reaches etcd
    /// only after the history since that listing was compacted, so etcd
    /// cancels the watch as compacted and the backend must list again.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func watchFromCompactedRevisionResyncs() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let proxy = try EtcdHoldingProxy(upstreamPort: etcd.clientPort)
            defer { proxy.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node = try cluster.addNodeNamespaceOnly(1)
            var options = cluster.options(node)
            options.etcd = EtcdConfiguration(endpoints: [proxy.endpoint], connectTimeout: .milliseconds(500),
                                             requestTimeout: .seconds(2))
            let messages = MessageLog()
            let host = HostNamespace(namespace: try NetworkNamespace(path: node.namespace.path))
            node.backend = try FlannelBackend(options: options, stateDirectory: node.stateDirectory, hostNamespace: host) { _, message in
                messages.append(message)
            }
            func lease(_ publicIP: String, _ mac: String) -> Data {
                Data(#"{"PublicIP":"\#(publicIP)","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"\#(mac)"}}"#.utf8)
            }
            let subnets = cluster.prefix + "/subnets/"
            let client = try cluster.client()
            try client.put(subnets + "10.240.111.0-24", value: lease("192.0.2.111", "0e:1f:2a:3b:4c:11"))
            #expect(eventually { node.backend!.node.programmedPeers.count == 1 })

            // End the running watch. The backend lists again, and its next watch request is held.
            proxy.holdWatches = true
            proxy.dropConnections()
            #expect(eventually(20) { proxy.heldWatchRequests > 0 })

            try client.delete(subnets + "10.240.111.0-24")
            try client.put(subnets + "10.240.112.0-24", value: lease("192.0.2.112", "0e:1f:2a:3b:4c:12"))
            let revision = try client.put(cluster.prefix + "/unrelated", value: Data("x".utf8))
            try client.compact(revision: revision)
            proxy.holdWatches = false

            #expect(eventually(20) {
                node.backend!.node.programmedPeers.map { "\($0.subnet)" } == ["10.240.112.0/24"]
            })
            let routes = try node.namespace.ip(["route", "show", "dev", "flannel.2"])
            #expect(routes.contains("10.240.112.0/24 via 10.240.112.0 onlink"))
            #expect(!routes.contains("10.240.111.0"))
            let neighbours = try node.namespace.ip(["neigh", "show", "dev", "flannel.2"])
            #expect(neighbours.contains("10.240.112.0 lladdr 0e:1f:2a:3b:4c:12 PERMANENT"))
            #expect(!neighbours.contains("10.240.111.0"))
            let fdb = try sh("/usr/sbin/bridge", ["-n", node.namespace.name, "fdb", "show", "dev", "flannel.2"])
            #expect(fdb.contains("0e:1f:2a:3b:4c:12 dst 192.0.2.112 self permanent"))
            #expect(!fdb.contains("0e:1f:2a:3b:4c:11"))
            // The resync came from the compacted watch, not from a reconnect.
            #expect(messages.contains("was compacted at revision"), "backend log: \(messages.all)")
        }
    }
}

/// Messages a backend logged, collected from its background threads.
final class MessageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func append(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// Returns the IPv4 address of `net1` inside a pod namespace, or nil when it has none.
func podAddress(_ pod: Namespace) -> String? {
    guard let json = try? pod.ip(["-j", "-4", "addr", "show", "dev", "net1"]) else { return nil }
    let info = jsonArray(json).first?["addr_info"] as? [[String: Any]] ?? []
    return info.first?["local"] as? String
}
