import Attachments
import BackendHost
import CNI
import Foundation
import Glibc
import Orchestrator
import Testing

/// A private etcd (/usr/bin/etcd) on kernel-picked loopback ports with a
/// temporary data directory, terminated and deleted on `stop()`.
final class PrivateEtcd: @unchecked Sendable {
    let directory: String
    let endpoint: String
    private let process: Process

    init(directory: String) async throws {
        self.directory = directory
        let client = Self.freeLoopbackPort()
        let peer = "http://127.0.0.1:\(Self.freeLoopbackPort())"
        endpoint = "http://127.0.0.1:\(client)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        process.arguments = ["--name", "chains", "--data-dir", directory + "/etcd",
                             "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", "chains=\(peer)", "--log-level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            if (try? run("/usr/bin/etcdctl", ["--endpoints", endpoint, "endpoint", "health"])) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw CommandFailure(description: "etcd on \(endpoint) did not become ready")
    }

    /// `etcdctl put key value`.
    func put(_ key: String, _ value: String) throws {
        _ = try run("/usr/bin/etcdctl", ["--endpoints", endpoint, "put", key, value])
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    /// Returns a free TCP port on 127.0.0.1, picked by the kernel through bind(2) to port 0.
    static func freeLoopbackPort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// A flannel network with portmap after it: the native flannel backend followed by
/// Debian's exec'd portmap in one plugin list.
@Suite struct FlannelChainTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func nativeFlannelThenExecutedPortmap() async throws {
        let directory = try TemporaryDirectory()
        let etcd = try await PrivateEtcd(directory: directory.path)
        defer { etcd.stop() }
        let suffix = randomSuffix(6)
        let prefix = "/hydra-chains-\(suffix)/network"
        let subnet = randomSubnetPrefix()
        let vni = Int.random(in: 4000...60000)
        try etcd.put(prefix + "/config",
                     #"{"Network":"\#(subnet).0/24","SubnetLen":26,"Backend":{"Type":"vxlan","VNI":\#(vni)}}"#)

        // The uplink is a veth pair of this test's own, with an address from
        // the benchmarking range; no peer node exists, so nothing is sent.
        let uplink = "hfu\(suffix)"
        try ip("link", "add", uplink, "type", "veth", "peer", "name", "hfp\(suffix)")
        let bridge = "hfb\(suffix)"
        defer {
            _ = try? ip("link", "del", uplink)
            _ = try? ip("link", "del", bridge)
            _ = try? ip("link", "del", "flannel.\(vni)")
        }
        try ip("addr", "add", "198.18.\(Int.random(in: 1...254)).\(Int.random(in: 1...254))/32", "dev", uplink)
        try ip("link", "set", uplink, "up")

        let loader = BackendLoader(directory: directory.path, stateRoot: directory.path + "/state")
        let backends = try loader.load([BackendSpec(
            name: "flannel", path: try builtBackendPath("flannel"), required: true,
            configuration: ["etcdEndpoints": [.string(etcd.endpoint)], "etcdPrefix": .string(prefix),
                            "iface": .string(uplink), "subnetFile": .string(directory.path + "/subnet.env"),
                            "forwardRules": false, "ipMasq": false])])
        defer { backends.shutdown() }
        #expect(backends.backend(forType: "flannel") != nil)

        let network = "chains-flannel-\(suffix)"
        let hostPort = Int64.random(in: 30000...39999)
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string(network),
            "plugins": [
                ["type": "flannel", "delegate": ["bridge": .string(bridge), "isDefaultGateway": false]],
                ["type": "portmap", "capabilities": ["portMappings": true], "snat": false],
            ],
        ]
        let runner = try makeRunner(directories: ["/usr/lib/cni"], cacheDirectory: directory.path + "/cache",
                                    backends: backends)
        let pod = try TestNamespace()
        let request = makeRequest(netns: pod.path, network: network, config: config,
                                  runtimeConfig: ["portMappings": [["hostPort": .integer(hostPort),
                                                                    "containerPort": 8080, "protocol": "tcp"]]])

        let result = try await runner.attach(request, deadline: deadline(seconds: 30))

        // The pod's address is in the node subnet the backend leased, whose
        // .1 sits on the flannel bridge.
        let environment = try String(contentsOfFile: directory.path + "/subnet.env", encoding: .utf8)
        let gatewayLine = try #require(environment.split(separator: "\n").first { $0.hasPrefix("FLANNEL_SUBNET=") })
        let gateway = String(gatewayLine.dropFirst("FLANNEL_SUBNET=".count))
        let bridgeAddresses = try json(try ip("-j", "addr", "show", "dev", bridge)).arrayValue?.first?["addr_info"]?
            .arrayValue?.compactMap { entry -> String? in
                guard let local = entry["local"]?.stringValue, let length = entry["prefixlen"]?.int64Value else { return nil }
                return "\(local)/\(length)"
            } ?? []
        #expect(bridgeAddresses.contains(gateway))
        let addresses = try pod.addresses("net1")
        #expect(addresses.count == 1)
        let gatewayNetwork = gateway.split(separator: ".").prefix(3).joined(separator: ".")
        #expect(addresses.first?.hasPrefix(gatewayNetwork + ".") == true)
        #expect(addresses.first?.hasSuffix("/26") == true)
        #expect(result.ips.map(\.address) == addresses)
        #expect(try natRules().contains("--dport \(hostPort)"))

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline(seconds: 30))

        #expect(try natRules().contains("--dport \(hostPort)") == false)
        #expect(pod.link("net1") == nil)
    }
}
