import EtcdTestSupport
import BackendSDK
import Etcd
import Foundation
import Netlink
import Netns
import NetworkSetup
import Testing
@testable import FlannelNetwork

/// Two simulated nodes with in-process backends and a private etcd on a
/// loopback port of the test process's namespace.
@Suite(.serialized) struct FlannelOverlayTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func twoNodesPingAcrossVxlan() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node1 = try cluster.addNode(1)
            let node2 = try cluster.addNode(2)
            let lease1 = try #require(node1.lease)
            let lease2 = try #require(node2.lease)
            #expect(lease1.subnet != lease2.subnet)
            #expect(lease1.mtu == 1450)

            // The lease in etcd, byte for byte as flanneld writes it.
            let key = "\(cluster.prefix)/subnets/\(lease1.subnet.networkAddress)-24"
            let stored = try #require(try cluster.client().range(key).kvs.first)
            #expect(stored.stringValue == "{\"PublicIP\":\"\(node1.address)\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
                    + "\"BackendData\":{\"VNI\":2,\"VtepMAC\":\"\(lease1.vtepMAC)\"}}")
            #expect(stored.lease == lease1.leaseID)

            // subnet.env
            let env = try String(contentsOfFile: node1.subnetFile, encoding: .utf8)
            #expect(env == "FLANNEL_NETWORK=10.240.0.0/16\nFLANNEL_SUBNET=\(lease1.subnet.host(1))/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n")

            // The VXLAN device as flanneld builds it.
            let link = try #require(jsonArray(try node1.namespace.ip(["-j", "-d", "link", "show", "flannel.2"])).first)
            let info = (link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any] ?? [:]
            #expect(info["id"] as? Int == 2)
            #expect(info["port"] as? Int == 8472)
            #expect(info["learning"] as? Bool == false)
            #expect(info["local"] as? String == node1.address)
            #expect(link["mtu"] as? Int == 1450)
            #expect(link["address"] as? String == lease1.vtepMAC.description)
            let addresses = try node1.namespace.ip(["-4", "-o", "addr", "show", "dev", "flannel.2"])
            #expect(addresses.contains("\(lease1.subnet.networkAddress)/32"))

            // Peer state on node 1 for node 2: neighbour, FDB entry, on-link route.
            #expect(eventually { node1.backend!.node.programmedPeers.map(\.subnet) == [lease2.subnet] })
            let peerAddress = lease2.subnet.networkAddress.description
            let neighbours = try node1.namespace.ip(["neigh", "show", "dev", "flannel.2"])
            #expect(neighbours.contains("\(peerAddress) lladdr \(lease2.vtepMAC) PERMANENT"))
            let fdb = try sh("/usr/sbin/bridge", ["-n", node1.namespace.name, "fdb", "show", "dev", "flannel.2"])
            #expect(fdb.contains("\(lease2.vtepMAC) dst \(node2.address) self permanent"))
            let routes = try node1.namespace.ip(["route", "show", "dev", "flannel.2"])
            #expect(routes.contains("\(lease2.subnet) via \(peerAddress) onlink"))

            // Masquerade in Hydra-named chains.
            let nat = try sh("/usr/sbin/ip", ["netns", "exec", node1.namespace.name, "iptables", "-t", "nat", "-S"])
            #expect(nat.contains("-A POSTROUTING -m comment --comment \"hydra flannel masq\" -j HYDRA-FL2-POSTRTG"))
            #expect(nat.contains("-A HYDRA-FL2-POSTRTG -s 10.240.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"hydra flannel masq\" -j MASQUERADE --random-fully"))
            #expect(!nat.contains("FLANNEL-POSTRTG"))

            // Pods on both nodes reach each other across VXLAN.
            let pod1 = try cluster.attachPod(to: node1)
            let pod2 = try cluster.attachPod(to: node2)
            #expect(lease1.subnet.contains(IPAddress(pod1.address)!))
            #expect(lease2.subnet.contains(IPAddress(pod2.address)!))
            let podRoutes = try pod1.pod.ip(["route", "show"])
            #expect(podRoutes.contains("10.240.0.0/16 via \(lease1.subnet.host(1)) dev net1"))
            let podLink = try #require(jsonArray(try pod1.pod.ip(["-j", "link", "show", "net1"])).first)
            #expect(podLink["mtu"] as? Int == 1450)
            #expect(eventually { pod1.pod.ping(pod2.address) })
            #expect(pod2.pod.ping(pod1.address))

            // host-local reservations live in the backend's state directory.
            #expect(FileManager.default.fileExists(atPath: "\(node1.stateDirectory)/ipam/hydra-cni/\(pod1.address)"))

            try node1.backend!.detach(pod1.request, deadline: .after(seconds: 10))
            #expect(!FileManager.default.fileExists(atPath: "\(node1.stateDirectory)/ipam/hydra-cni/\(pod1.address)"))
            #expect((try? pod1.pod.ip(["link", "show", "net1"])) == nil)
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func thirdNodeLeaseProgrammedAndRemoved() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node1 = try cluster.addNode(1)

            // A lease written exactly as a flanneld node would write it.
            let key = "\(cluster.prefix)/subnets/10.240.77.0-24"
            let value = #"{"PublicIP":"192.0.2.33","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"0e:1f:2a:3b:4c:5d"}}"#
            let client = try cluster.client()
            let etcdLease = try client.grantLease(ttl: 600)
            try client.put(key, value: Data(value.utf8), lease: etcdLease.id)

            #expect(eventually {
                ((try? node1.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? "").contains("10.240.77.0/24 via 10.240.77.0 onlink")
            })
            #expect(try node1.namespace.ip(["neigh", "show", "dev", "flannel.2"]).contains("10.240.77.0 lladdr 0e:1f:2a:3b:4c:5d PERMANENT"))
            #expect(try sh("/usr/sbin/bridge", ["-n", node1.namespace.name, "fdb", "show", "dev", "flannel.2"])
                .contains("0e:1f:2a:3b:4c:5d dst 192.0.2.33 self permanent"))

            // Revoking the etcd lease deletes the key, as an expiry does.
            try client.revokeLease(id: etcdLease.id)
            #expect(eventually {
                !((try? node1.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? "x").contains("10.240.77.0")
            })
            #expect(try !node1.namespace.ip(["neigh", "show", "dev", "flannel.2"]).contains("10.240.77.0"))
            #expect(try !sh("/usr/sbin/bridge", ["-n", node1.namespace.name, "fdb", "show", "dev", "flannel.2"])
                .contains("0e:1f:2a:3b:4c:5d"))
            #expect(node1.backend!.node.programmedPeers.isEmpty)

            // After a compaction of older revisions the running watch keeps delivering new leases.
            let revision = try client.put(cluster.prefix + "/unrelated", value: Data("x".utf8))
            try client.compact(revision: revision)
            try client.put("\(cluster.prefix)/subnets/10.240.78.0-24",
                           value: Data(value.replacingOccurrences(of: "192.0.2.33", with: "192.0.2.34").utf8))
            #expect(eventually {
                ((try? node1.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? "").contains("10.240.78.0/24")
            })
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func restartKeepsSubnet() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node1 = try cluster.addNode(1)
            let first = try #require(node1.lease)
            node1.backend!.shutdown()
            try cluster.startBackend(node1)
            #expect(node1.lease?.subnet == first.subnet)
            #expect(node1.lease?.vtepMAC == first.vtepMAC)

            // Without its state directory and VXLAN device the node still
            // finds its lease by public IP.
            node1.backend!.shutdown()
            try FileManager.default.removeItem(atPath: node1.stateDirectory)
            try node1.namespace.ip(["link", "del", "flannel.2"])
            try cluster.startBackend(node1)
            #expect(node1.lease?.subnet == first.subnet)

            // With the lease gone from etcd, the subnet from subnet.env is reused.
            node1.backend!.shutdown()
            try cluster.client().delete("\(cluster.prefix)/subnets/", prefix: true)
            try cluster.startBackend(node1)
            #expect(node1.lease?.subnet == first.subnet)
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func etcdOutageKeepsPodsWorking() async throws {
        try await offPool {
            let etcd = try EtcdServer()
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }
            let node1 = try cluster.addNode(1)
            let node2 = try cluster.addNode(2)
            let pod1 = try cluster.attachPod(to: node1)
            let pod2 = try cluster.attachPod(to: node2)
            #expect(eventually { pod1.pod.ping(pod2.address) })

            // An outage of 8 s, shorter than a production one, to keep the suite fast.
            etcd.kill()
            let outageEnd = Date().addingTimeInterval(8)
            let pod3 = try cluster.attachPod(to: node1)
            #expect(node1.lease!.subnet.contains(IPAddress(pod3.address)!))
            var pings = 0
            while Date() < outageEnd {
                #expect(pod1.pod.ping(pod2.address))
                #expect(pod3.pod.ping(pod2.address))
                pings += 1
            }
            #expect(pings > 2)

            // A node restarted while etcd is away serves from its persisted lease.
            let before = try #require(node2.lease)
            node2.backend!.shutdown()
            try cluster.startBackend(node2)
            #expect(node2.lease?.subnet == before.subnet)
            let pod4 = try cluster.attachPod(to: node2)
            #expect(pod1.pod.ping(pod4.address))

            try etcd.start()
            // Back online: the watch resumes and a new lease is programmed.
            let value = #"{"PublicIP":"192.0.2.40","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"0e:1f:2a:3b:4c:60"}}"#
            try cluster.client().put("\(cluster.prefix)/subnets/10.240.90.0-24", value: Data(value.utf8))
            #expect(eventually(20) {
                ((try? node1.namespace.ip(["route", "show", "dev", "flannel.2"])) ?? "").contains("10.240.90.0/24")
            })
            #expect(pod1.pod.ping(pod2.address))
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func leaseOverTLSAndRenewal() async throws {
        try await offPool {
            let certificates = try TestCertificates.make()
            defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
            let etcd = try EtcdServer(tls: certificates)
            defer { etcd.stop() }
            let cluster = try Cluster(etcd: etcd)
            defer { cluster.shutdown() }

            // A short TTL so the renewal runs during the test: renewed 3 s
            // after each grant or renewal, 3 s before expiry.
            let node = try cluster.addNodeNamespaceOnly(1)
            var options = cluster.options(node)
            options.leaseTTLSeconds = 6
            options.renewMarginSeconds = 3
            let host = HostNamespace(namespace: try NetworkNamespace(path: node.namespace.path))
            node.backend = try FlannelBackend(options: options, stateDirectory: node.stateDirectory, hostNamespace: host) { _, _ in }
            let lease = try #require(node.lease)
            Thread.sleep(forTimeInterval: 10)
            let key = "\(cluster.prefix)/subnets/\(lease.subnet.networkAddress)-24"
            let stored = try cluster.client().range(key).kvs.first
            #expect(stored?.lease == lease.leaseID)
        }
    }
}

func jsonArray(_ text: String) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
}
