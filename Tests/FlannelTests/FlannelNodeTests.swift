import EtcdTestSupport
import BackendSDK
import CNI
import Etcd
import Foundation
import Netlink
import Netns
import NetworkSetup
import Testing
@testable import FlannelNetwork

/// One simulated node at a time: configuration errors, public interface
/// choice and garbage collection.
@Suite(.serialized) struct FlannelNodeTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func udpNetworkRejectsAttach() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd, networkConfig: #"{"Network":"10.240.0.0/16"}"#)
            defer { cluster.shutdown() }
            let node = try cluster.addNode(1)
            #expect(node.lease == nil)
            do {
                _ = try cluster.attachPod(to: node)
                Issue.record("attach succeeded on a udp network")
            } catch let error as CNIError {
                #expect(error.code == CNIError.tryAgainLater)
                #expect(error.msg.contains("\"udp\""))
            }
            #expect(try cluster.client().range("\(cluster.prefix)/subnets/", prefix: true).kvs.isEmpty)
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func defaultRouteInterfaceIsPublic() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node = try cluster.addNodeNamespaceOnly(1)
            // A second interface without the default route must not be picked.
            try node.namespace.ip(["link", "add", "side0", "type", "veth", "peer", "name", "side1"])
            try node.namespace.ip(["addr", "add", "172.31.9.1/24", "dev", "side0"])
            try node.namespace.ip(["link", "set", "side0", "up"])
            try node.namespace.ip(["route", "add", "default", "via", "192.168.\(cluster.underlayNet).254", "dev", "eth0"])

            var options = cluster.options(node)
            options.interface = ""
            let host = HostNamespace(namespace: try NetworkNamespace(path: node.namespace.path))
            node.backend = try FlannelBackend(options: options, stateDirectory: node.stateDirectory, hostNamespace: host) { _, _ in }
            let lease = try #require(node.lease)
            #expect(lease.publicIP.description == node.address)
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func garbageCollectDetachesUnlisted() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node = try cluster.addNode(1)
            let kept = try cluster.attachPod(to: node)
            let dropped = try cluster.attachPod(to: node)
            let reservations = "\(node.stateDirectory)/ipam/hydra-cni"
            #expect(FileManager.default.fileExists(atPath: "\(reservations)/\(dropped.address)"))

            let request = GCRequest(validAttachments: [
                AttachmentID(sandboxID: kept.request.sandboxID, networkName: "hydra-cni", ifName: "net1"),
            ])
            Thread.sleep(forTimeInterval: 1.1)
            try node.backend!.garbageCollect(request, deadline: .after(seconds: 10))

            #expect(!FileManager.default.fileExists(atPath: "\(reservations)/\(dropped.address)"))
            #expect((try? dropped.pod.ip(["link", "show", "net1"])) == nil)
            #expect(FileManager.default.fileExists(atPath: "\(reservations)/\(kept.address)"))
            #expect((try? kept.pod.ip(["link", "show", "net1"])) != nil)
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func directRoutingOnSharedSubnet() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd, networkConfig:
                #"{"Network":"10.240.0.0/16","Backend":{"Type":"vxlan","VNI":2,"DirectRouting":true}}"#)
            defer { cluster.shutdown() }
            let node1 = try cluster.addNode(1)
            let node2 = try cluster.addNode(2)
            let lease2 = try #require(node2.lease)

            // Both public IPs share the underlay subnet, so the peer route goes through eth0.
            #expect(eventually {
                ((try? node1.namespace.ip(["route", "show", "dev", "eth0"])) ?? "").contains("\(lease2.subnet) via \(node2.address)")
            })
            #expect(try !node1.namespace.ip(["route", "show", "dev", "flannel.2"]).contains("\(lease2.subnet)"))
            let pod1 = try cluster.attachPod(to: node1)
            let pod2 = try cluster.attachPod(to: node2)
            #expect(eventually { pod1.pod.ping(pod2.address) })
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func deletedOwnLeaseIsWrittenAgain() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node = try cluster.addNode(1)
            let lease = try #require(node.lease)
            let key = "\(cluster.prefix)/subnets/\(lease.subnet.networkAddress)-24"
            let client = try cluster.client()
            #expect(try client.delete(key) == 1)

            #expect(eventually { ((try? client.range(key).kvs.count) ?? 0) == 1 })
            let stored = try #require(try client.range(key).kvs.first)
            #expect(stored.stringValue.contains("\"PublicIP\":\"\(node.address)\""))
            #expect(stored.lease != 0)
            #expect(node.lease?.subnet == lease.subnet)
        }
    }
}
