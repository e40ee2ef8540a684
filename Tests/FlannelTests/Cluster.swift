import EtcdTestSupport
import BackendSDK
import CNI
import Etcd
import Foundation
import Netns
import NetworkSetup
@testable import FlannelNetwork

/// Runs a command and returns its standard output; throws when it exits non-zero.
@discardableResult
func sh(_ path: String, _ arguments: [String]) throws -> String {
    let output = try Subprocess.run(path, arguments)
    guard output.status == 0 else {
        throw CommandError(command: ([path] + arguments).joined(separator: " "), status: output.status,
                           standardError: output.standardError)
    }
    return output.standardOutput
}

func randomSuffix() -> String { String(UInt32.random(in: 0...UInt32.max), radix: 16) }

/// Polls `condition` every 100 ms for up to `seconds`; returns whether it became true.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return condition()
}

/// A test network namespace from `ip netns add`, deleted by `remove()`.
final class Namespace: @unchecked Sendable {
    let name: String
    var path: String { "/run/netns/\(name)" }

    init(_ prefix: String) throws {
        name = "\(prefix)-\(randomSuffix())"
        try sh("/usr/sbin/ip", ["netns", "add", name])
        try sh("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
    }

    @discardableResult
    func ip(_ arguments: [String]) throws -> String { try sh("/usr/sbin/ip", ["-n", name] + arguments) }

    func ping(_ address: String) -> Bool {
        (try? sh("/usr/sbin/ip", ["netns", "exec", name, "ping", "-c", "1", "-W", "1", address])) != nil
    }

    func remove() { _ = try? sh("/usr/sbin/ip", ["netns", "del", name]) }
}

/// Simulated nodes: an underlay namespace with a bridge, and per node a
/// namespace with `eth0` on that bridge at 192.168.<net>.<n>/24, running an
/// in-process flannel backend whose host namespace is the node namespace.
final class Cluster: @unchecked Sendable {
    let etcd: EtcdServer
    let prefix = "/hydra-test-\(randomSuffix())/network"
    let underlay: Namespace
    let underlayNet = Int.random(in: 10...250)
    var nodes: [Node] = []
    var pods: [Namespace] = []
    let root = NSTemporaryDirectory() + "hydra-flannel-\(randomSuffix())"

    final class Node: @unchecked Sendable {
        let namespace: Namespace
        let address: String
        let stateDirectory: String
        let subnetFile: String
        var backend: FlannelBackend?
        init(namespace: Namespace, address: String, stateDirectory: String, subnetFile: String) {
            self.namespace = namespace
            self.address = address
            self.stateDirectory = stateDirectory
            self.subnetFile = subnetFile
        }
        var lease: FlannelNode.HeldLease? { backend?.node.currentLease }
    }

    init(etcd: EtcdServer, networkConfig: String = #"{"Network":"10.240.0.0/16","Backend":{"Type":"vxlan","VNI":2}}"#) throws {
        self.etcd = etcd
        underlay = try Namespace("hfu")
        try underlay.ip(["link", "add", "ubr", "type", "bridge"])
        try underlay.ip(["link", "set", "ubr", "up"])
        try client().put(prefix + "/config", value: Data(networkConfig.utf8))
    }

    func client() throws -> EtcdClient {
        let tls = etcd.tls
        return try EtcdClient(configuration: EtcdConfiguration(endpoints: [etcd.endpoint], caFile: tls?.caFile,
                                                               certFile: tls?.clientCert, keyFile: tls?.clientKey))
    }

    /// Adds node number `index` (1-based) and starts its backend.
    @discardableResult
    func addNode(_ index: Int, ipMasq: Bool = true) throws -> Node {
        let node = try addNodeNamespaceOnly(index)
        try startBackend(node, ipMasq: ipMasq)
        return node
    }

    /// Adds node number `index` with its underlay link but no backend.
    func addNodeNamespaceOnly(_ index: Int) throws -> Node {
        let namespace = try Namespace("hfn\(index)")
        let port = "u\(index)-\(randomSuffix().prefix(6))"
        try underlay.ip(["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace.name])
        try underlay.ip(["link", "set", port, "master", "ubr", "up"])
        let address = "192.168.\(underlayNet).\(index)"
        try namespace.ip(["addr", "add", "\(address)/24", "dev", "eth0"])
        try namespace.ip(["link", "set", "eth0", "up"])
        let node = Node(namespace: namespace, address: address, stateDirectory: "\(root)/node\(index)/state",
                        subnetFile: "\(root)/node\(index)/run/subnet.env")
        nodes.append(node)
        return node
    }

    func options(_ node: Node, ipMasq: Bool = true) -> FlannelOptions {
        let tls = etcd.tls
        return FlannelOptions(etcd: EtcdConfiguration(endpoints: [etcd.endpoint], caFile: tls?.caFile,
                                                      certFile: tls?.clientCert, keyFile: tls?.clientKey,
                                                      connectTimeout: .milliseconds(500), requestTimeout: .seconds(2)),
                              etcdPrefix: prefix, interface: "eth0", subnetFile: node.subnetFile, ipMasq: ipMasq,
                              bridge: "hfl0", retryMaxSeconds: 2)
    }

    func startBackend(_ node: Node, ipMasq: Bool = true) throws {
        let host = HostNamespace(namespace: try NetworkNamespace(path: node.namespace.path))
        node.backend = try FlannelBackend(options: options(node, ipMasq: ipMasq), stateDirectory: node.stateDirectory,
                                          hostNamespace: host) { level, message in
            if level.rawValue >= BackendLogLevel.warning.rawValue { print("flannel[\(node.address)]: \(message)") }
        }
    }

    /// Creates a pod namespace and attaches it to `node` as `net1`; returns the pod and its address.
    func attachPod(to node: Node) throws -> (pod: Namespace, request: AttachRequest, address: String) {
        let pod = try Namespace("hfp")
        pods.append(pod)
        let config = try JSONValue(parsing: Data(#"""
            {"cniVersion":"1.0.0","name":"hydra-cni","type":"flannel","delegate":{"isDefaultGateway":false}}
            """#.utf8))
        let request = AttachRequest(sandboxID: "sb\(randomSuffix())\(randomSuffix())", netns: pod.path, ifName: "net1",
                                    networkName: "hydra-cni", config: config)
        let result = try node.backend!.attach(request, deadline: .after(seconds: 10))
        let address = String(result.ips.first!.address.split(separator: "/")[0])
        var recorded = request
        recorded.prevResult = try result.jsonValue(as: "1.0.0")
        return (pod, recorded, address)
    }

    func shutdown() {
        for node in nodes {
            node.backend?.shutdown()
            node.backend = nil
            node.namespace.remove()
        }
        for pod in pods { pod.remove() }
        underlay.remove()
        try? FileManager.default.removeItem(atPath: root)
    }
}
