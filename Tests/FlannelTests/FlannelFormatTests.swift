import CNI
import Foundation
import Netlink
import Testing
@testable import FlannelNetwork

struct FlannelFormatTests {
    @Test func networkConfigDefaults() throws {
        let config = try FlannelNetworkConfig(json: #"{"Network":"10.240.0.0/16","Backend":{"Type":"vxlan","VNI":2}}"#)
        #expect(config.network.description == "10.240.0.0/16")
        #expect(config.subnetLength == 24)
        #expect(config.subnetMin.description == "10.240.1.0")
        #expect(config.subnetMax.description == "10.240.255.0")
        #expect(config.backend.vni == 2)
        #expect(config.backend.port == 0)
        #expect(config.backend.directRouting == false)
        #expect(config.candidateSubnets().count == 255)
    }

    @Test func networkConfigSmallNetworkQuarters() throws {
        let config = try FlannelNetworkConfig(json: #"{"Network":"10.9.0.0/24","Backend":{"Type":"vxlan"}}"#)
        #expect(config.subnetLength == 26)
        #expect(config.subnetMin.description == "10.9.0.64")
        #expect(config.subnetMax.description == "10.9.0.192")
        #expect(config.backend.vni == 1)

        let slash22 = try FlannelNetworkConfig(json: #"{"Network":"10.9.0.0/22","Backend":{"Type":"vxlan"}}"#)
        #expect(slash22.subnetLength == 24)
    }

    @Test func networkConfigExplicitFields() throws {
        let config = try FlannelNetworkConfig(json: """
            {"Network":"10.240.0.0/16","SubnetLen":26,"SubnetMin":"10.240.4.0","SubnetMax":"10.240.4.192",
             "Backend":{"Type":"vxlan","VNI":7,"Port":4789,"DirectRouting":true}}
            """)
        #expect(config.subnetLength == 26)
        #expect(config.candidateSubnets().map(\.description) == ["10.240.4.0/26", "10.240.4.64/26", "10.240.4.128/26", "10.240.4.192/26"])
        #expect(config.backend.port == 4789)
        #expect(config.backend.directRouting)
        #expect(config.accepts(IPNetwork("10.240.4.64/26")!))
        #expect(!config.accepts(IPNetwork("10.240.4.32/26")!))
        #expect(!config.accepts(IPNetwork("10.240.5.0/26")!))
    }

    @Test func networkConfigRejectsUDPAndInvalid() {
        for text in [#"{"Network":"10.240.0.0/16"}"#,
                     #"{"Network":"10.240.0.0/16","Backend":{"Type":"udp"}}"#,
                     #"{"Network":"10.240.0.0/16","Backend":{"Type":"host-gw"}}"#,
                     #"{"Backend":{"Type":"vxlan"}}"#,
                     #"{"Network":"10.240.0.0/30","Backend":{"Type":"vxlan"}}"#,
                     #"{"Network":"10.240.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}"#,
                     #"{"Network":"10.240.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}"#,
                     #"{"Network":"10.240.0.0/16","SubnetMin":"10.240.0.7","Backend":{"Type":"vxlan"}}"#,
                     "not json"] {
            #expect(throws: FlannelError.self, "\(text)") { try FlannelNetworkConfig(json: text) }
        }
        do {
            _ = try FlannelNetworkConfig(json: #"{"Network":"10.240.0.0/16"}"#)
        } catch {
            #expect("\(error)".contains("\"udp\""))
            #expect("\(error)".contains("vxlan"))
        }
    }

    @Test func leaseValueMatchesFlanneld() throws {
        let lease = SubnetLease(subnet: IPNetwork("10.240.5.0/24")!, publicIP: IPAddress("192.0.2.10")!, vni: 2,
                                vtepMAC: MACAddress("AA:BB:CC:00:11:22"))
        #expect(lease.jsonValue == #"{"PublicIP":"192.0.2.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"aa:bb:cc:00:11:22"}}"#)
        #expect(SubnetLease.key(prefix: "/hydra-cni/network", subnet: lease.subnet) == "/hydra-cni/network/subnets/10.240.5.0-24")

        let decoded = SubnetLease(key: "/hydra-cni/network/subnets/10.240.5.0-24", value: Data(lease.jsonValue.utf8),
                                  prefix: "/hydra-cni/network")
        #expect(decoded == lease)
        #expect(SubnetLease(key: "/other/subnets/10.240.5.0-24", value: Data(lease.jsonValue.utf8), prefix: "/hydra-cni/network") == nil)
        #expect(SubnetLease(key: "/hydra-cni/network/subnets/10.240.5.0-24", value: Data("{}".utf8), prefix: "/hydra-cni/network") == nil)
    }

    @Test func subnetEnvText() throws {
        let env = SubnetEnv(network: IPNetwork("10.240.0.0/16")!, subnet: IPNetwork("10.240.5.0/24")!, mtu: 1450, ipMasq: true)
        #expect(env.text == "FLANNEL_NETWORK=10.240.0.0/16\nFLANNEL_SUBNET=10.240.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n")
        let path = NSTemporaryDirectory() + "hydra-flannel-env-\(UUID().uuidString)/subnet.env"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try env.write(to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == env.text)
        #expect(SubnetEnv.previousSubnet(at: path) == IPNetwork("10.240.5.0/24"))
        #expect(SubnetEnv.previousSubnet(at: path + ".missing") == nil)
    }

    @Test func delegateFromFlannelPluginConfig() throws {
        let config = try FlannelNetworkConfig(json: #"{"Network":"10.240.0.0/16","Backend":{"Type":"vxlan","VNI":2}}"#)
        let lease = FlannelNode.HeldLease(config: config, subnet: IPNetwork("10.240.5.0/24")!, leaseID: 1, mtu: 1450,
                                          publicIP: IPAddress("192.0.2.10")!, vtepMAC: MACAddress("aa:bb:cc:00:11:22")!)
        let options = FlannelOptions(etcd: .init(endpoints: ["http://127.0.0.1:1"]), ipMasq: true, bridge: "hfl0")
        let network = try JSONValue(parsing: Data(#"""
            {"cniVersion":"0.3.1","name":"hydra-cni","type":"flannel",
             "delegate":{"hairpinMode":true,"isDefaultGateway":false}}
            """#.utf8))
        let delegate = try FlannelDelegate.build(config: network, lease: lease, options: options, ipamDataDir: "/var/lib/hydra/x")
        #expect(delegate["type"]?.stringValue == "bridge")
        #expect(delegate["name"]?.stringValue == "hydra-cni")
        #expect(delegate["cniVersion"]?.stringValue == "0.3.1")
        #expect(delegate["bridge"]?.stringValue == "hfl0")
        #expect(delegate["ipMasq"]?.boolValue == false)
        #expect(delegate["isGateway"]?.boolValue == true)
        #expect(delegate["hairpinMode"]?.boolValue == true)
        #expect(delegate["mtu"]?.int64Value == 1450)
        #expect(delegate["ipam"]?["type"]?.stringValue == "host-local")
        #expect(delegate["ipam"]?["dataDir"]?.stringValue == "/var/lib/hydra/x")
        #expect(delegate["ipam"]?["ranges"]?[0]?[0]?["subnet"]?.stringValue == "10.240.5.0/24")
        #expect(delegate["ipam"]?["routes"]?[0]?["dst"]?.stringValue == "10.240.0.0/16")

        let macvlan = try JSONValue(parsing: Data(#"{"name":"n","type":"flannel","delegate":{"type":"macvlan"}}"#.utf8))
        #expect(throws: CNIError.self) {
            try FlannelDelegate.build(config: macvlan, lease: lease, options: options, ipamDataDir: "/tmp")
        }
    }

    @Test func backendOptionsParse() throws {
        let options = try FlannelOptions(json: try JSONValue(parsing: Data(#"""
            {"etcdEndpoints":"https://127.0.0.1:2379, https://127.0.0.2:2379","etcdPrefix":"/hydra-cni/network/",
             "etcdCAFile":"/ca","etcdCertFile":"/c","etcdKeyFile":"/k","iface":"eth1","ipMasq":true,
             "subnetFile":"/run/flannel/hydra-cni/subnet.env"}
            """#.utf8)))
        #expect(options.etcd.endpoints == ["https://127.0.0.1:2379", "https://127.0.0.2:2379"])
        #expect(options.etcdPrefix == "/hydra-cni/network")
        #expect(options.etcd.certFile == "/c")
        #expect(options.interface == "eth1")
        #expect(options.ipMasq)
        #expect(options.leaseTTLSeconds == 86_400)
        #expect(throws: FlannelError.self) { try FlannelOptions(json: .object([:])) }
        #expect(throws: FlannelError.self) {
            try FlannelOptions(json: .object(["etcdEndpoints": .array([.string("http://127.0.0.1:1")]),
                                              "etcdCertFile": .string("/c")]))
        }
    }

    @Test func backendOptionsNestedEtcd() throws {
        let options = try FlannelOptions(json: try JSONValue(parsing: Data(#"""
            {"etcd": {"endpoints": ["https://127.0.0.1:2379"], "caFile": "/ca", "certFile": "/c", "keyFile": "/k",
                      "prefix": "/hydra-cni/network"}}
            """#.utf8)))
        #expect(options.etcd.endpoints == ["https://127.0.0.1:2379"])
        #expect(options.etcd.caFile == "/ca")
        #expect(options.etcd.certFile == "/c")
        #expect(options.etcd.keyFile == "/k")
        #expect(options.etcdPrefix == "/hydra-cni/network")
    }

    /// The flannel backend configuration in each document's JSON examples loads.
    @Test(arguments: ["docs/configuration.md", "docs/flannel.md"])
    func documentedBackendOptionsLoad(document: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent(document), encoding: .utf8)
        let blocks = text.components(separatedBy: "```json\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        var found = 0
        for block in blocks {
            guard let json = try? JSONValue(parsing: Data(block.utf8)) else { continue }
            for load in json["backends"]?["load"]?.arrayValue ?? [] where load["name"]?.stringValue == "flannel" {
                _ = try FlannelOptions(json: load["config"] ?? .null)
                found += 1
            }
        }
        #expect(found > 0, "no flannel backend configuration in \(document)")
    }

    @Test(arguments: [
        (#"{"etcdEndpoints": ["http://127.0.0.1:1"], "etcdPrefx": "/x"}"#, #"unknown key "etcdPrefx""#),
        (#"{"etcd": {"endpoint": ["http://127.0.0.1:1"]}}"#, #"unknown key "etcd.endpoint""#),
        (#"{"etcd": {"endpoints": ["http://127.0.0.1:1"]}, "etcdEndpoints": ["http://127.0.0.1:2"]}"#,
         #""etcd.endpoints" and "etcdEndpoints" are both set"#),
        (#"{"etcd": ["http://127.0.0.1:1"]}"#, #""etcd" must be an object"#),
    ])
    func backendOptionsRejected(config: String, message: String) throws {
        do {
            _ = try FlannelOptions(json: try JSONValue(parsing: Data(config.utf8)))
            Issue.record("accepted \(config)")
        } catch let error as FlannelError {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
