// `hydra-bench flannel`: attach and detach times of the flannel backend and
// the time to program 1,000 peer leases, against a private etcd on a
// loopback port and a node network namespace created and deleted here.
import BackendSDK
import CNI
import Etcd
import FlannelNetwork
import Foundation
import Glibc
import Netns
import NetworkSetup

/// Runs the flannel benchmark and prints one line per figure. Needs root
/// and /usr/bin/etcd.
func runFlannelBenchmark(arguments: [String]) throws {
    var rounds = 200
    var remaining = arguments[...]
    while let option = remaining.popFirst() {
        guard option == "--rounds", let value = remaining.popFirst(), let parsed = Int(value), parsed > 0 else {
            throw BenchError("usage: hydra-bench flannel [--rounds N]")
        }
        rounds = parsed
    }

    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let workDirectory = NSTemporaryDirectory() + "hydra-bench-flannel-\(suffix)"
    let etcd = try BenchEtcd(dataDirectory: workDirectory + "/etcd")
    let nodeName = "hbf-node-\(suffix)"
    let podName = "hbf-pod-\(suffix)"
    defer {
        etcd.stop()
        _ = try? Subprocess.run("/usr/sbin/ip", ["netns", "del", nodeName])
        _ = try? Subprocess.run("/usr/sbin/ip", ["netns", "del", podName])
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    // The node: a veth pair inside its own namespace gives it an uplink with an address.
    for command in [["netns", "add", nodeName], ["netns", "add", podName],
                    ["-n", nodeName, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
                    ["-n", nodeName, "addr", "add", "192.168.200.1/24", "dev", "eth0"],
                    ["-n", nodeName, "link", "set", "eth0", "up"], ["-n", nodeName, "link", "set", "eth0p", "up"],
                    ["-n", podName, "link", "set", "lo", "up"]] {
        let output = try Subprocess.run("/usr/sbin/ip", command)
        guard output.status == 0 else { throw BenchError("ip \(command.joined(separator: " ")) failed: \(output.standardError)") }
    }

    let prefix = "/hydra-bench/network"
    let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint]))
    try client.put(prefix + "/config", value: Data(#"{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":2}}"#.utf8))
    let options = FlannelOptions(etcd: EtcdConfiguration(endpoints: [etcd.endpoint]), etcdPrefix: prefix, interface: "eth0",
                                 subnetFile: workDirectory + "/subnet.env", ipMasq: false, forwardRules: false, bridge: "hbf0")
    let host = HostNamespace(namespace: try NetworkNamespace(path: "/run/netns/\(nodeName)"))

    // 1,000 leases already in etcd when the node starts: the initial list and resync.
    let peerCount = 1000
    for index in 0..<peerCount {
        let subnet = "10.\(100 + index / 250).\(index % 250).0"
        let mac = String(format: "0e:00:00:00:%02x:%02x", index / 256, index % 256)
        let value = "{\"PublicIP\":\"192.168.\(201 + index / 250).\(index % 250 + 1)\",\"PublicIPv6\":null,"
            + "\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":2,\"VtepMAC\":\"\(mac)\"}}"
        try client.put("\(prefix)/subnets/\(subnet)-24", value: Data(value.utf8))
    }
    let started = ContinuousClock.now
    let backend = try FlannelBackend(options: options, stateDirectory: workDirectory + "/state", hostNamespace: host) { _, _ in }
    defer { backend.shutdown() }
    while backend.node.programmedPeers.count < peerCount {
        guard ContinuousClock.now - started < .seconds(120) else { throw BenchError("peers not programmed within 120 s") }
        Thread.sleep(forTimeInterval: 0.01)
    }
    print(String(format: "flannel-resync peers=%d start-to-programmed=%.0fms", peerCount,
                 milliseconds(ContinuousClock.now - started)))

    // 1,000 leases arriving through the watch, written one by one.
    let watchStarted = ContinuousClock.now
    for index in 0..<peerCount {
        let subnet = "10.\(150 + index / 250).\(index % 250).0"
        let mac = String(format: "0e:00:00:01:%02x:%02x", index / 256, index % 256)
        let value = "{\"PublicIP\":\"192.168.\(211 + index / 250).\(index % 250 + 1)\",\"PublicIPv6\":null,"
            + "\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":2,\"VtepMAC\":\"\(mac)\"}}"
        try client.put("\(prefix)/subnets/\(subnet)-24", value: Data(value.utf8))
    }
    let written = ContinuousClock.now
    while backend.node.programmedPeers.count < 2 * peerCount {
        guard ContinuousClock.now - watchStarted < .seconds(120) else { throw BenchError("watched peers not programmed within 120 s") }
        Thread.sleep(forTimeInterval: 0.01)
    }
    print(String(format: "flannel-watch peers=%d first-put-to-programmed=%.0fms (puts alone %.0fms)", peerCount,
                 milliseconds(ContinuousClock.now - watchStarted), milliseconds(written - watchStarted)))

    // Attach plus detach of one pod interface, `rounds` times, for each
    // masquerade setting of the delegated bridge. The node's ipMasq is off,
    // so an empty delegate gets "ipMasq": true, as the flannel CNI plugin
    // would set it, and each attach and detach runs iptables.
    let delegates = [("", #"{"ipMasq":false}"#), ("-ipmasq", "{}")]
    for (suffix, delegate) in delegates {
        let config = try JSONValue(parsing: Data(#"{"cniVersion":"1.0.0","name":"bench","type":"flannel","delegate":\#(delegate)}"#.utf8))
        var attachSamples: [Double] = []
        var detachSamples: [Double] = []
        var totalSamples: [Double] = []
        for round in 0..<rounds {
            var request = AttachRequest(sandboxID: "bench\(suffix)\(round)", netns: "/run/netns/\(podName)", ifName: "net1",
                                        networkName: "bench", config: config)
            let attachStart = ContinuousClock.now
            let result = try backend.attach(request, deadline: .after(seconds: 10))
            let attached = ContinuousClock.now
            request.prevResult = try result.jsonValue(as: "1.0.0")
            try backend.detach(request, deadline: .after(seconds: 10))
            let detached = ContinuousClock.now
            attachSamples.append(milliseconds(attached - attachStart))
            detachSamples.append(milliseconds(detached - attached))
            totalSamples.append(milliseconds(detached - attachStart))
        }
        for (name, samples) in [("attach", attachSamples), ("detach", detachSamples), ("attach+detach", totalSamples)] {
            print(String(format: "flannel-%@%@ rounds=%d p50=%.2fms p99=%.2fms", name, suffix, rounds,
                         percentile(samples, 0.5), percentile(samples, 0.99)))
        }
    }
}

/// A private etcd on a kernel-picked loopback port with its own data directory.
final class BenchEtcd {
    let process = Process()
    let endpoint: String

    init(dataDirectory: String) throws {
        let clientPort = Self.freePort()
        let peerPort = Self.freePort()
        endpoint = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        process.arguments = ["--name", "bench", "--data-dir", dataDirectory, "--listen-client-urls", endpoint,
                             "--advertise-client-urls", endpoint, "--listen-peer-urls", peer,
                             "--initial-advertise-peer-urls", peer, "--initial-cluster", "bench=\(peer)",
                             "--log-level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [endpoint]))
        let deadline = Date().addingTimeInterval(20)
        while (try? client.range("/")) == nil {
            guard Date() < deadline else { throw BenchError("etcd on \(endpoint) did not start within 20 s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    /// Returns a free TCP port on 127.0.0.1, picked by the kernel (bind to port 0).
    static func freePort() -> UInt16 {
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
