import CNI
import Foundation
import Glibc
import HydraLog
import Orchestrator
import Testing

@testable import Attachments

/// Chains of Debian's reference plugins (containernetworking-plugins 1.1.1
/// in /usr/lib/cni) on the real kernel.
@Suite struct ReferencePluginChainTests {
    static let pluginDirectory = "/usr/lib/cni"

    /// bridge + host-local + portmap with its IPAM state in `directory`.
    static func bridgeList(name: String, bridge: String, subnet: String, dataDir: String,
                           extra: [JSONValue] = []) -> JSONValue {
        let plugins: [JSONValue] = [
            ["type": "bridge", "bridge": .string(bridge), "isGateway": true, "ipMasq": false,
             "ipam": ["type": "host-local", "subnet": .string("\(subnet).0/24"), "dataDir": .string(dataDir)]],
        ] + extra + [
            ["type": "portmap", "capabilities": ["portMappings": true], "snat": false],
        ]
        return ["cniVersion": "1.0.0", "name": .string(name), "plugins": .array(plugins)]
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func bridgePortmapAddAndDelete() async throws {
        let directory = try TemporaryDirectory()
        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let bridge = HostLink(name: "hcb\(suffix)")
        let subnet = randomSubnetPrefix()
        let network = "chains-\(suffix)"
        let hostPort = Int64.random(in: 20000...29999)
        let config = Self.bridgeList(name: network, bridge: bridge.name, subnet: subnet, dataDir: directory.path + "/ipam")
        let runner = try makeRunner(directories: [Self.pluginDirectory], cacheDirectory: directory.path + "/cache")
        let request = makeRequest(netns: pod.path, network: network, config: config,
                                  runtimeConfig: ["portMappings": [["hostPort": .integer(hostPort), "containerPort": 80,
                                                                    "protocol": "tcp"]]])

        let result = try await runner.attach(request, deadline: deadline())

        let address = try #require(result.ips.first?.address)
        #expect(address.hasPrefix(subnet + "."))
        #expect(try pod.addresses("net1") == [address])
        let podIP = String(address.split(separator: "/")[0])
        let rules = try natRules()
        #expect(rules.contains("--dport \(hostPort)"))
        #expect(rules.contains("--to-destination \(podIP):80"))
        #expect(FileManager.default.fileExists(atPath: "\(directory.path)/ipam/\(network)/\(podIP)"))
        // No CHECK here: portmap 1.1.1 fails CHECK on an IPv4-only mapping
        // because it looks for an IPv6 DNAT chain it never created.

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())

        #expect(pod.link("net1") == nil)
        let after = try natRules()
        #expect(!after.contains("--dport \(hostPort)"))
        #expect(!after.contains("--to-destination \(podIP):80"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/ipam/\(network)/\(podIP)"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/cache/results/\(network)-\(request.sandboxID)-net1"))
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func failureMidListDeletesEarlierPlugins() async throws {
        let directory = try TemporaryDirectory()
        try directory.script("fails", """
            cat >/dev/null
            if [ "$CNI_COMMAND" = ADD ]; then printf '{"code":120,"msg":"refused on purpose"}'; exit 1; fi
            exit 0
            """)
        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let bridge = HostLink(name: "hcb\(suffix)")
        let network = "chains-\(suffix)"
        let config = Self.bridgeList(name: network, bridge: bridge.name, subnet: randomSubnetPrefix(),
                                     dataDir: directory.path + "/ipam", extra: [["type": "fails"]])
        let runner = try makeRunner(directories: [directory.path, Self.pluginDirectory],
                                    cacheDirectory: directory.path + "/cache")
        let request = makeRequest(netns: pod.path, network: network, config: config)

        do {
            _ = try await runner.attach(request, deadline: deadline())
            Issue.record("attach succeeded past a failing plugin")
        } catch let error as ChainStepError {
            #expect(error.index == 1)
            #expect(error.cniError.code == 120)
        }
        // The bridge ran before the failure: its interface and address exist.
        #expect(pod.link("net1") != nil)

        // What the orchestrator does with the intent entry of a failed attach.
        try await runner.detach(AttachmentRecord(request: request), deadline: deadline())

        #expect(pod.link("net1") == nil)
        let reserved = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/ipam/\(network)")) ?? []
        #expect(reserved.filter { $0.first.map(\.isNumber) == true }.isEmpty, "addresses still reserved: \(reserved)")
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func macvlanWithTuning() async throws {
        let directory = try TemporaryDirectory()
        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let master = HostLink(name: "hcm\(suffix)")
        try ip("link", "add", master.name, "type", "veth", "peer", "name", "hcp\(suffix)")
        try ip("link", "set", master.name, "up")
        let network = "chains-\(suffix)"
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string(network),
            "plugins": [
                ["type": "macvlan", "master": .string(master.name), "mode": "bridge",
                 "ipam": ["type": "host-local", "subnet": .string("\(randomSubnetPrefix()).0/24"),
                          "dataDir": .string(directory.path + "/ipam")]],
                ["type": "tuning", "mtu": 1280, "sysctl": ["net.ipv4.conf.net1.arp_ignore": "1"]],
            ],
        ]
        let runner = try makeRunner(directories: [Self.pluginDirectory], cacheDirectory: directory.path + "/cache")
        let request = makeRequest(netns: pod.path, network: network, config: config)

        let result = try await runner.attach(request, deadline: deadline())

        let link = try #require(pod.link("net1"))
        #expect(link["linkinfo"]?["info_kind"] == "macvlan")
        #expect(link["mtu"] == 1280)
        let sysctl = try run("/usr/bin/nsenter", ["--net=\(pod.path)", "/usr/sbin/sysctl", "-n", "net.ipv4.conf.net1.arp_ignore"])
        #expect(sysctl.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try pod.addresses("net1") == result.ips.map(\.address))
        try await runner.check(AttachmentRecord(request: request, result: result), deadline: deadline())

        // CHECK fails once the interface is gone from the namespace.
        try ip("-n", pod.name, "link", "set", "net1", "name", "other1")
        await #expect(throws: ChainStepError.self) {
            try await runner.check(AttachmentRecord(request: request, result: result), deadline: deadline())
        }
        try ip("-n", pod.name, "link", "set", "other1", "name", "net1")

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())
        #expect(pod.link("net1") == nil)
    }

    /// Whether the kernel creates VLAN links, probed on a veth pair of its own.
    static let kernelHasVLAN: Bool = {
        guard getuid() == 0 else { return false }
        let suffix = randomSuffix(6)
        let probe = HostLink(name: "hcx\(suffix)")
        guard (try? ip("link", "add", probe.name, "type", "veth", "peer", "name", "hcy\(suffix)")) != nil else { return false }
        return (try? ip("link", "add", "link", probe.name, "name", "hcz\(suffix)", "type", "vlan", "id", "5")) != nil
    }()

    @Test(.enabled(if: getuid() == 0, "needs root"), .enabled(if: kernelHasVLAN, "the kernel has no 802.1Q support"))
    func vlanOnVeth() async throws {
        let directory = try TemporaryDirectory()
        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let master = HostLink(name: "hcv\(suffix)")
        try ip("link", "add", master.name, "type", "veth", "peer", "name", "hcq\(suffix)")
        try ip("link", "set", master.name, "up")
        let network = "chains-\(suffix)"
        let vlanID = Int64.random(in: 100...3000)
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string(network), "type": "vlan", "master": .string(master.name),
            "vlanId": .integer(vlanID),
            "ipam": ["type": "host-local", "subnet": .string("\(randomSubnetPrefix()).0/24"),
                     "dataDir": .string(directory.path + "/ipam")],
        ]
        let runner = try makeRunner(directories: [Self.pluginDirectory], cacheDirectory: directory.path + "/cache")
        let request = makeRequest(netns: pod.path, network: network, config: config)

        let result = try await runner.attach(request, deadline: deadline())

        let link = try #require(pod.link("net1"))
        #expect(link["linkinfo"]?["info_kind"] == "vlan")
        #expect(link["linkinfo"]?["info_data"]?["id"] == .integer(vlanID))
        #expect(try pod.addresses("net1") == result.ips.map(\.address))
        try await runner.check(AttachmentRecord(request: request, result: result), deadline: deadline())

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())
        #expect(pod.link("net1") == nil)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func defaultRouteMovesToAttachment() async throws {
        let directory = try TemporaryDirectory()
        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let bridge = HostLink(name: "hcb\(suffix)")
        // The pod's "default network": a veth with the current default route.
        let outside = HostLink(name: "hco\(suffix)")
        let defaultSubnet = randomSubnetPrefix()
        try ip("link", "add", outside.name, "type", "veth", "peer", "name", "eth0", "netns", pod.name)
        try ip("-n", pod.name, "addr", "add", "\(defaultSubnet).2/24", "dev", "eth0")
        try ip("-n", pod.name, "link", "set", "eth0", "up")
        try ip("link", "set", outside.name, "up")
        try ip("-n", pod.name, "route", "add", "default", "via", "\(defaultSubnet).1", "dev", "eth0")
        let subnet = randomSubnetPrefix()
        let network = "chains-\(suffix)"
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string(network), "type": "bridge", "bridge": .string(bridge.name),
            "isGateway": true,
            "ipam": ["type": "host-local", "subnet": .string("\(subnet).0/24"), "dataDir": .string(directory.path + "/ipam")],
        ]
        let runner = try makeRunner(directories: [Self.pluginDirectory], cacheDirectory: directory.path + "/cache")
        let request = makeRequest(netns: pod.path, network: network, config: config, defaultRoute: ["\(subnet).1"])

        let result = try await runner.attach(request, deadline: deadline())

        let routes = try json(try ip("-n", pod.name, "-j", "-4", "route", "show", "default"))
        let entries = routes.arrayValue ?? []
        #expect(entries.count == 1)
        #expect(entries.first?["gateway"]?.stringValue == "\(subnet).1")
        #expect(entries.first?["dev"] == "net1")

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func undeclaredIPsOnExecutedBridgeFail() async throws {
        let directory = try TemporaryDirectory()
        let suffix = randomSuffix(6)
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string("chains-\(suffix)"), "type": "bridge", "bridge": .string("hcb\(suffix)"),
            "ipam": ["type": "host-local", "subnet": "10.249.1.0/24", "dataDir": .string(directory.path + "/ipam")],
        ]
        let runner = try makeRunner(directories: [Self.pluginDirectory], cacheDirectory: nil)
        let request = makeRequest(netns: "/run/netns/none", network: "chains-\(suffix)", config: config,
                                  runtimeConfig: ["ips": ["10.249.1.7/24"]])

        await #expect(throws: CNIError.self) {
            _ = try await runner.attach(request, deadline: deadline())
        }
        // Nothing ran: the bridge plugin would have created the bridge.
        #expect((try? ip("link", "show", "hcb\(suffix)")) == nil)
    }
}

/// The default-route step alone, for both address families, on veth pairs
/// inside a namespace of its own.
@Suite struct DefaultRouteTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func replacesIPv4AndIPv6DefaultRoutes() async throws {
        let pod = try TestNamespace()
        let v4Old = randomSubnetPrefix()
        let v4New = randomSubnetPrefix()
        // A group in the form the kernel prints it: no leading zeros.
        let v6Group = String(UInt16.random(in: 0x1000...0xffff), radix: 16)
        let v6Old = "fd00:\(v6Group):1"
        let v6New = "fd00:\(v6Group):2"
        try ip("-n", pod.name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
        try ip("-n", pod.name, "link", "add", "net1", "type", "veth", "peer", "name", "peer1")
        for device in ["eth0", "peer0", "net1", "peer1"] {
            try ip("-n", pod.name, "link", "set", device, "up")
        }
        try ip("-n", pod.name, "addr", "add", "\(v4Old).2/24", "dev", "eth0")
        try ip("-n", pod.name, "addr", "add", "\(v6Old)::2/64", "dev", "eth0", "nodad")
        try ip("-n", pod.name, "addr", "add", "\(v4New).2/24", "dev", "net1")
        try ip("-n", pod.name, "addr", "add", "\(v6New)::2/64", "dev", "net1", "nodad")
        try ip("-n", pod.name, "route", "add", "default", "via", "\(v4Old).1", "dev", "eth0")
        try ip("-n", pod.name, "-6", "route", "add", "default", "via", "\(v6Old)::1", "dev", "eth0")

        try await DefaultRoute.replace(gateways: ["\(v4New).1", "\(v6New)::1"], interface: "net1",
                                       netnsPath: pod.path, logger: Logger(component: "test"))

        let v4 = try json(try ip("-n", pod.name, "-j", "-4", "route", "show", "default")).arrayValue ?? []
        #expect(v4.count == 1)
        #expect(v4.first?["gateway"]?.stringValue == "\(v4New).1")
        #expect(v4.first?["dev"] == "net1")
        let v6 = try json(try ip("-n", pod.name, "-j", "-6", "route", "show", "default")).arrayValue ?? []
        #expect(v6.count == 1)
        #expect(v6.first?["gateway"]?.stringValue == "\(v6New)::1")
        #expect(v6.first?["dev"] == "net1")
    }

    @Test func invalidGatewayIsRejected() async throws {
        await #expect(throws: CNIError.self) {
            try await DefaultRoute.replace(gateways: ["not-an-address"], interface: "net1",
                                           netnsPath: "/run/netns/none", logger: Logger(component: "test"))
        }
    }
}
