import Foundation
import Glibc
import Netlink
import Netns
import Testing

@Test(.enabled(if: getuid() == 0, "needs root"))
func lookupMissingLinkNamesIt() throws {
    let ns = try TestNamespace()
    do {
        _ = try ns.socket.link(named: "eth9")
        Issue.record("looking up eth9 succeeded")
    } catch {
        #expect(error.isNotFound)
        #expect(error.description == "failed to look up link \"eth9\": no such device")
    }
    #expect(try ns.socket.linkIfPresent(named: "eth9") == nil)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func vethPeerCreatedInOtherNamespace() throws {
    let host = try TestNamespace()
    let pod = try TestNamespace()
    let mac = MACAddress("0a:58:0a:01:00:05")!

    try host.socket.addVethPair(name: "vhost0", peerName: "net1", peerNamespaceFD: pod.namespace.fileDescriptor,
                                mtu: 1400, peerMAC: mac)

    let hostEnd = try host.socket.link(named: "vhost0")
    #expect(hostEnd.kind == "veth")
    #expect(hostEnd.mtu == 1400)
    #expect(try host.socket.linkIfPresent(named: "net1") == nil)

    let podEnd = try pod.socket.link(named: "net1")
    #expect(podEnd.kind == "veth")
    #expect(podEnd.mtu == 1400)
    #expect(podEnd.mac == mac)
    #expect(podEnd.parentIndex == hostEnd.index)
    #expect(pod.ipLink("net1")?["address"] as? String == "0a:58:0a:01:00:05")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func vethPeerNameTakenFailsWithoutLeftovers() throws {
    let host = try TestNamespace()
    let pod = try TestNamespace()
    try pod.addLink("net1")

    do {
        try host.socket.addVethPair(name: "vhost1", peerName: "net1", peerNamespaceFD: pod.namespace.fileDescriptor)
        Issue.record("creating a veth whose peer name is taken succeeded")
    } catch {
        #expect(error.isAlreadyExists)
    }
    #expect(try host.socket.linkIfPresent(named: "vhost1") == nil)
    #expect(try pod.socket.link(named: "net1").kind == "veth")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func linkSettingsReachKernel() throws {
    let ns = try TestNamespace()
    try ns.addLink("d0")
    let index = try ns.socket.link(named: "d0").index
    let mac = MACAddress("02:00:00:aa:bb:cc")!

    try ns.socket.setMTU(index: index, 1280)
    try ns.socket.setMAC(index: index, mac)
    try ns.socket.setPromiscuous(index: index, true)
    try ns.socket.setUp(index: index)

    let link = try ns.socket.link(index: index)
    #expect(link.mtu == 1280)
    #expect(link.mac == mac)
    #expect(link.isPromiscuous)
    #expect(link.isUp)
    let flags = ns.ipLink("d0")?["flags"] as? [String] ?? []
    #expect(flags.contains("PROMISC"))
    #expect(flags.contains("UP"))

    try ns.socket.setPromiscuous(index: index, false)
    try ns.socket.setDown(index: index)
    try ns.socket.rename(index: index, to: "d1")
    let renamed = try ns.socket.link(index: index)
    #expect(renamed.name == "d1")
    #expect(!renamed.isPromiscuous)
    #expect(!renamed.isUp)

    try ns.socket.deleteLink(index: index)
    #expect(try ns.socket.linkIfPresent(named: "d1") == nil)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func moveLinkToNamespace() throws {
    let first = try TestNamespace()
    let second = try TestNamespace()
    try first.addLink("mv0")
    let index = try first.socket.link(named: "mv0").index

    try first.socket.moveToNamespace(index: index, namespaceFD: second.namespace.fileDescriptor)

    #expect(try first.socket.linkIfPresent(named: "mv0") == nil)
    #expect(try second.socket.link(named: "mv0").kind == "veth")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgePortHairpin() throws {
    let ns = try TestNamespace()
    try ns.socket.addBridge(name: "br0", mtu: 1450)
    try ns.addLink("p0")
    let bridge = try ns.socket.link(named: "br0")
    let port = try ns.socket.link(named: "p0")
    #expect(bridge.kind == "bridge")
    #expect(bridge.mtu == 1450)

    try ns.socket.setMaster(index: port.index, masterIndex: bridge.index)
    try ns.socket.setHairpin(portIndex: port.index, true)
    #expect(try ns.socket.link(index: port.index).masterIndex == bridge.index)
    let portData = (ns.ipLink("p0")?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any]
    #expect(portData?["hairpin"] as? Bool == true)

    try ns.socket.setHairpin(portIndex: port.index, false)
    let portAfter = (ns.ipLink("p0")?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any]
    #expect(portAfter?["hairpin"] as? Bool == false)

    try ns.socket.setMaster(index: port.index, masterIndex: 0)
    #expect(try ns.socket.link(index: port.index).masterIndex == 0)
}

@Test(.enabled(if: getuid() == 0 && TestNamespace.kernelHasBridgeVLANFiltering,
               "needs root and a kernel with bridge VLAN filtering"))
func bridgePortVLAN() throws {
    let ns = try TestNamespace()
    try ns.socket.addBridge(name: "br0", vlanFiltering: true)
    try ns.addLink("p0")
    let bridge = try ns.socket.link(named: "br0")
    let port = try ns.socket.link(named: "p0")
    let bridgeData = (ns.ipLink("br0")?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
    #expect(bridgeData?["vlan_filtering"] as? Int == 1)

    try ns.socket.setMaster(index: port.index, masterIndex: bridge.index)
    try ns.socket.addBridgeVLAN(portIndex: port.index, vid: 42, pvid: true, untagged: true)
    let vlans = jsonArray(try runCommand("/usr/sbin/bridge", ["-n", ns.name, "-j", "vlan", "show", "dev", "p0"]))
    let entries = vlans.first?["vlans"] as? [[String: Any]] ?? []
    let flags42 = entries.first { $0["vlan"] as? Int == 42 }?["flags"] as? [String] ?? []
    #expect(flags42.contains("PVID"))
    #expect(flags42.contains("Egress Untagged"))

    try ns.socket.deleteBridgeVLAN(portIndex: port.index, vid: 42)
    let after = jsonArray(try runCommand("/usr/sbin/bridge", ["-n", ns.name, "-j", "vlan", "show", "dev", "p0"]))
    let remaining = (after.first?["vlans"] as? [[String: Any]] ?? []).compactMap { $0["vlan"] as? Int }
    #expect(!remaining.contains(42))
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanCreatedInOtherNamespace() throws {
    let host = try TestNamespace()
    let pod = try TestNamespace()
    try host.addLink("parent0")
    let parent = try host.socket.link(named: "parent0")

    try host.socket.addMacvlan(name: "net1", parentIndex: parent.index, mode: .vepa, mtu: 1300,
                               namespaceFD: pod.namespace.fileDescriptor)

    let link = try pod.socket.link(named: "net1")
    #expect(link.kind == "macvlan")
    #expect(link.macvlanMode == "vepa")
    #expect(link.mtu == 1300)
    #expect(try host.socket.linkIfPresent(named: "net1") == nil)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func vxlanCreated() throws {
    let ns = try TestNamespace()
    try ns.socket.addVxlan(name: "vx0", settings: VxlanSettings(vni: 7, localAddress: IPAddress("10.9.0.1"), port: 8472))
    let link = try ns.socket.link(named: "vx0")
    #expect(link.kind == "vxlan")
    let data = (ns.ipLink("vx0")?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
    #expect(data?["id"] as? Int == 7)
    #expect(data?["port"] as? Int == 8472)
    #expect(data?["local"] as? String == "10.9.0.1")

    let mac = MACAddress("02:00:00:00:00:07")!
    try ns.socket.addFDBEntry(mac: mac, remote: IPAddress("10.9.0.2")!, index: link.index)
    let fdb = try runCommand("/usr/sbin/bridge", ["-n", ns.name, "fdb", "show", "dev", "vx0"])
    #expect(fdb.contains("02:00:00:00:00:07 dst 10.9.0.2"))
    try ns.socket.deleteFDBEntry(mac: mac, remote: IPAddress("10.9.0.2")!, index: link.index)
    let fdbAfter = try runCommand("/usr/sbin/bridge", ["-n", ns.name, "fdb", "show", "dev", "vx0"])
    #expect(!fdbAfter.contains("02:00:00:00:00:07 dst 10.9.0.2"))
}
