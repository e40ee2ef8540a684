import BackendTestSupport
import BackendSDK
import BridgeNetwork
import CNI
import Foundation
import Glibc
import Netlink
import NetworkSetup
import Netns
import Testing

/// One host namespace with a bridge plugin bound to it and a private IPAM directory.
struct BridgeFixture {
    let host: TestNamespace
    let data = TestDataDirectory()
    let plugin: BridgePlugin
    let bridge = "hbr" + randomSuffix(8)
    let network = "net-" + randomSuffix(8)

    init() throws {
        host = try TestNamespace("hyhost")
        plugin = BridgePlugin(host: HostNamespace(namespace: host.namespace))
    }

    /// Returns a bridge configuration with host-local IPAM over `ranges` (JSON), plus `extra` keys.
    func config(ranges: String = #"[[{"subnet": "10.22.0.0/24"}]]"#, extra: String = "") -> String {
        """
        {"cniVersion": "1.0.0", "name": "\(network)", "type": "bridge", "bridge": "\(bridge)"\(extra.isEmpty ? "" : ", " + extra),
         "ipam": {"type": "host-local", "ranges": \(ranges), "dataDir": "\(data.path)"}}
        """
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeAddAndDeleteIPv4() throws {
    let fixture = try BridgeFixture()
    let pod = try TestNamespace("hypod")
    let config = fixture.config(extra: #""isGateway": true, "ipMasq": true, "mtu": 1400"#)
    let request = try makeRequest(config, netns: pod.path, sandboxID: "sandbox-a")

    let result = try fixture.plugin.add(request)

    #expect(result.interfaces.count == 3)
    #expect(result.interfaces[0].name == fixture.bridge)
    #expect(result.interfaces[2].name == "net1")
    #expect(result.interfaces[2].sandbox == pod.path)
    #expect(result.ips.first?.address == "10.22.0.2/24")
    #expect(result.ips.first?.gateway == "10.22.0.1")
    #expect(result.ips.first?.interface == 2)

    let bridgeLink = try fixture.host.socket.link(named: fixture.bridge)
    #expect(bridgeLink.kind == "bridge")
    #expect(bridgeLink.mtu == 1400)
    #expect(fixture.host.addresses(fixture.bridge) == ["10.22.0.1/24"])
    let hostVeth = try fixture.host.socket.link(named: result.interfaces[1].name)
    #expect(hostVeth.masterIndex == bridgeLink.index)
    #expect(hostVeth.mtu == 1400)
    let podLink = try pod.socket.link(named: "net1")
    #expect(podLink.kind == "veth")
    #expect(podLink.mtu == 1400)
    #expect(podLink.mac?.description == result.interfaces[2].mac)
    #expect(pod.addresses("net1") == ["10.22.0.2/24"])
    #expect(fixture.data.reservedAddresses(network: fixture.network) == ["10.22.0.2"])

    let chain = IPMasquerade.chainName(network: fixture.network, containerID: "sandbox-a")
    let rules = fixture.host.natRules(containing: chain)
    #expect(rules.contains("-N \(chain)"))
    #expect(rules.contains { $0.hasPrefix("-A POSTROUTING -s 10.22.0.2/32") && $0.contains("-j \(chain)") })
    #expect(rules.contains { $0.hasPrefix("-A \(chain) -d 10.22.0.0/24") && $0.hasSuffix("-j ACCEPT") })
    #expect(rules.contains { $0.hasPrefix("-A \(chain) ! -d 224.0.0.0/4") && $0.hasSuffix("-j MASQUERADE") })

    let delete = try makeRequest(config, netns: pod.path, sandboxID: "sandbox-a", prevResult: try result.jsonValue())
    try fixture.plugin.del(delete)
    #expect(try pod.socket.linkIfPresent(named: "net1") == nil)
    #expect(fixture.host.waitUntilGone(result.interfaces[1].name))
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
    #expect(fixture.host.natRules(containing: chain).isEmpty)

    // DEL is repeatable.
    try fixture.plugin.del(delete)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeExistingInterfaceFailsCleanly() throws {
    let fixture = try BridgeFixture()
    let pod = try TestNamespace("hypod")
    try pod.socket.addVethPair(name: "net1", peerName: "net1peer", peerNamespaceFD: nil)
    let hostLinksBefore = try fixture.host.socket.links().map(\.name)

    let request = try makeRequest(fixture.config(), netns: pod.path, sandboxID: "sandbox-b")
    do {
        _ = try fixture.plugin.add(request)
        Issue.record("attaching over an existing net1 succeeded")
    } catch {
        #expect("\(error)".contains("\"net1\""))
        #expect("\(error)".contains("already exists"))
    }
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
    #expect(!(try fixture.host.socket.links().contains { $0.kind == "veth" }))
    #expect(try fixture.host.socket.links().map(\.name).count <= hostLinksBefore.count + 1)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeFailedIPAMLeavesNothing() throws {
    let fixture = try BridgeFixture()
    let first = try TestNamespace("hypod")
    let second = try TestNamespace("hypod")
    // A range with a single address: the second attach must fail in IPAM.
    let config = fixture.config(ranges: #"[[{"subnet": "10.23.0.0/24", "rangeStart": "10.23.0.10", "rangeEnd": "10.23.0.10"}]]"#)

    _ = try fixture.plugin.add(try makeRequest(config, netns: first.path, sandboxID: "sandbox-1"))
    let vethsBefore = try fixture.host.socket.links().filter { $0.kind == "veth" }.count

    #expect(throws: (any Error).self) {
        _ = try fixture.plugin.add(try makeRequest(config, netns: second.path, sandboxID: "sandbox-2"))
    }
    #expect(try second.socket.linkIfPresent(named: "net1") == nil)
    #expect(try fixture.host.socket.links().filter { $0.kind == "veth" }.count == vethsBefore)
    #expect(fixture.data.reservedAddresses(network: fixture.network) == ["10.23.0.10"])
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeDeleteWithoutNamespaceReleasesAddress() throws {
    let fixture = try BridgeFixture()
    var pod: TestNamespace? = try TestNamespace("hypod")
    let podPath = pod!.path
    let config = fixture.config(extra: #""ipMasq": true"#)
    let result = try fixture.plugin.add(try makeRequest(config, netns: podPath, sandboxID: "sandbox-c"))
    #expect(fixture.data.reservedAddresses(network: fixture.network) == ["10.22.0.2"])

    pod = nil  // deletes the namespace
    let delete = try makeRequest(config, netns: podPath, sandboxID: "sandbox-c", prevResult: try result.jsonValue())
    try fixture.plugin.del(delete)
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
    let chain = IPMasquerade.chainName(network: fixture.network, containerID: "sandbox-c")
    #expect(fixture.host.natRules(containing: chain).isEmpty)
    try fixture.plugin.del(try makeRequest(config, netns: "", sandboxID: "sandbox-c"))
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeDefaultRouteOnlyWithDefaultGateway() throws {
    let fixture = try BridgeFixture()
    let plain = try TestNamespace("hypod")
    let routed = try TestNamespace("hypod")

    _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""isGateway": true"#), netns: plain.path, sandboxID: "s-plain"))
    let result = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""isDefaultGateway": true"#),
                                                        netns: routed.path, sandboxID: "s-routed"))

    #expect(!plain.routes().contains { $0.hasPrefix("default") })
    #expect(routed.routes().contains("default via 10.22.0.1 dev net1"))
    #expect(result.routes.contains(CNIResult.Route(dst: "0.0.0.0/0", gw: "10.22.0.1")))
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgePodsPingEachOther() throws {
    let fixture = try BridgeFixture()
    let first = try TestNamespace("hypod")
    let second = try TestNamespace("hypod")
    let config = fixture.config(ranges: #"[[{"subnet": "10.24.0.0/24"}], [{"subnet": "fd24::/64"}]]"#,
                                extra: #""isGateway": true"#)

    let a = try fixture.plugin.add(try makeRequest(config, netns: first.path, sandboxID: "s-ping-1"))
    let b = try fixture.plugin.add(try makeRequest(config, netns: second.path, sandboxID: "s-ping-2"))

    let addressesB = b.ips.map { String($0.address.split(separator: "/")[0]) }
    #expect(addressesB.count == 2)
    for address in addressesB {
        #expect(ping(from: first, address), "ping \(address) from the first pod")
    }
    let gateway = try #require(a.ips.first?.gateway)
    #expect(ping(from: second, gateway), "ping the bridge gateway \(gateway)")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeParallelAttachesGetDistinctAddresses() async throws {
    let fixture = try BridgeFixture()
    let pods = try (0..<12).map { _ in try TestNamespace("hypod") }
    let config = fixture.config()
    let plugin = fixture.plugin

    let addresses = try await withThrowingTaskGroup(of: String.self) { group in
        for (index, pod) in pods.enumerated() {
            let request = try makeRequest(config, netns: pod.path, sandboxID: "s-par-\(index)")
            group.addTask { try plugin.add(request).ips.first?.address ?? "" }
        }
        var collected: [String] = []
        for try await address in group { collected.append(address) }
        return collected
    }
    #expect(addresses.count == 12)
    #expect(Set(addresses).count == 12)
    #expect(fixture.data.reservedAddresses(network: fixture.network).count == 12)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeCheckFindsMissingAddress() throws {
    let fixture = try BridgeFixture()
    let pod = try TestNamespace("hypod")
    let config = fixture.config(extra: #""isGateway": true"#)
    let result = try fixture.plugin.add(try makeRequest(config, netns: pod.path, sandboxID: "s-check"))
    let check = try makeRequest(config, netns: pod.path, sandboxID: "s-check", prevResult: try result.jsonValue())

    try fixture.plugin.check(check)

    try pod.socket.deleteAddress(IPNetwork("10.22.0.2/24")!, index: try pod.socket.link(named: "net1").index)
    do {
        try fixture.plugin.check(check)
        Issue.record("check passed without the pod address")
    } catch {
        #expect("\(error)".contains("10.22.0.2/24"))
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeHairpinAndPromiscuousMode() throws {
    let fixture = try BridgeFixture()
    let hairpinPod = try TestNamespace("hypod")
    let result = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""hairpinMode": true"#),
                                                        netns: hairpinPod.path, sandboxID: "s-hairpin"))
    let portData = (fixture.host.ipLink(result.interfaces[1].name)?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any]
    #expect(portData?["hairpin"] as? Bool == true)

    let otherHost = try BridgeFixture()
    let promiscPod = try TestNamespace("hypod")
    _ = try otherHost.plugin.add(try makeRequest(otherHost.config(extra: #""promiscMode": true"#),
                                                 netns: promiscPod.path, sandboxID: "s-promisc"))
    #expect(try otherHost.host.socket.link(named: otherHost.bridge).isPromiscuous)

    #expect(throws: (any Error).self) {
        _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""hairpinMode": true, "promiscMode": true"#),
                                                   netns: promiscPod.path, ifName: "net2", sandboxID: "s-both"))
    }
}

/// Returns true when the kernel supports bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING).
let kernelHasBridgeVLANFiltering: Bool = {
    guard let probe = try? TestNamespace("hyprobe") else { return false }
    return (try? probe.socket.addBridge(name: "vlanprobe", vlanFiltering: true)) != nil
}()

@Test(.enabled(if: getuid() == 0 && kernelHasBridgeVLANFiltering,
               "needs root and a kernel with bridge VLAN filtering"))
func bridgeVLANAccessPort() throws {
    let fixture = try BridgeFixture()
    let pod = try TestNamespace("hypod")
    let result = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""vlan": 42"#), netns: pod.path,
                                                        sandboxID: "s-vlan"))

    let bridgeData = (fixture.host.ipLink(fixture.bridge)?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
    #expect(bridgeData?["vlan_filtering"] as? Int == 1)
    let vlans = jsonArray(try fixture.host.run("/usr/sbin/bridge", ["-j", "vlan", "show", "dev", result.interfaces[1].name]))
    let entries = vlans.first?["vlans"] as? [[String: Any]] ?? []
    let flags = entries.first { $0["vlan"] as? Int == 42 }?["flags"] as? [String] ?? []
    #expect(flags.contains("PVID"))
    #expect(flags.contains("Egress Untagged"))
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeRejectsInvalidVLAN() throws {
    let fixture = try BridgeFixture()
    let pod = try TestNamespace("hypod")
    do {
        _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""vlan": 5000"#), netns: pod.path, sandboxID: "s-badvlan"))
        Issue.record("VLAN 5000 was accepted")
    } catch {
        #expect("\(error)".contains("invalid VLAN ID 5000"))
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeForceAddressReplacesGateway() throws {
    let fixture = try BridgeFixture()
    try fixture.host.socket.addBridge(name: fixture.bridge)
    let bridgeIndex = try fixture.host.socket.link(named: fixture.bridge).index
    try fixture.host.socket.addAddress(IPNetwork("10.99.0.1/24")!, index: bridgeIndex)
    let first = try TestNamespace("hypod")
    let second = try TestNamespace("hypod")

    do {
        _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""isGateway": true"#), netns: first.path,
                                                   sandboxID: "s-noforce"))
        Issue.record("a bridge with another IPv4 address was accepted without forceAddress")
    } catch {
        #expect("\(error)".contains("already has an IP address different from 10.22.0.1/24"))
    }
    #expect(try first.socket.linkIfPresent(named: "net1") == nil)
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)

    _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""isGateway": true, "forceAddress": true"#),
                                               netns: second.path, sandboxID: "s-force"))
    #expect(fixture.host.addresses(fixture.bridge) == ["10.22.0.1/24"])
}
