import Foundation
import Glibc
import Netlink
import Netns
import NetworkSetup
import Testing

@Test func ipNetworkParsingAndMasking() throws {
    let network = try #require(IPNetwork("10.1.2.3/23"))
    #expect(network.networkAddress.description == "10.1.2.0")
    #expect(network.broadcastAddress.description == "10.1.3.255")
    #expect(network.contains(IPAddress("10.1.3.200")!))
    #expect(!network.contains(IPAddress("10.1.4.1")!))
    let v6 = try #require(IPNetwork("fd00:1::5/64"))
    #expect(v6.masked.description == "fd00:1::/64")
    #expect(IPNetwork("10.1.2.3/33") == nil)
    #expect(IPNetwork("10.1.2.3") == nil)
    #expect(MACAddress("0A:58:0A:01:00:05")?.description == "0a:58:0a:01:00:05")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func addressesAddListDelete() throws {
    let ns = try TestNamespace()
    try ns.addLink("a0")
    let index = try ns.socket.link(named: "a0").index
    try ns.socket.setUp(index: index)

    let v4 = IPNetwork("10.44.0.5/24")!
    let v6 = IPNetwork("fd44::5/64")!
    try ns.socket.addAddress(v4, index: index)
    try ns.socket.addAddress(v6, index: index)

    let listed = try ns.socket.addresses(index: index).map(\.network)
    #expect(listed.contains(v4))
    #expect(listed.contains(v6))
    let kernel = ns.ipAddresses("a0")
    let v4Entry = kernel.first { $0["local"] as? String == "10.44.0.5" }
    #expect(v4Entry?["prefixlen"] as? Int == 24)
    #expect(v4Entry?["broadcast"] as? String == "10.44.0.255")
    #expect(kernel.contains { $0["local"] as? String == "fd44::5" })

    do {
        try ns.socket.addAddress(v4, index: index)
        Issue.record("adding a duplicate address succeeded")
    } catch {
        #expect(error.isAlreadyExists)
        #expect(error.description.contains("10.44.0.5/24"))
    }

    try ns.socket.deleteAddress(v4, index: index)
    #expect(!ns.ipAddresses("a0").contains { $0["local"] as? String == "10.44.0.5" })
    #expect(try ns.socket.addresses(index: index, family: AF_INET).isEmpty)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func routesAddListDelete() throws {
    let ns = try TestNamespace()
    try ns.addLink("r0")
    let index = try ns.socket.link(named: "r0").index
    try ns.socket.setUp(index: index)
    try ns.socket.addAddress(IPNetwork("10.45.0.5/24")!, index: index)

    let defaultRoute = Route(destination: .defaultRoute(family: AF_INET), gateway: IPAddress("10.45.0.1"), linkIndex: index)
    let subnetRoute = Route(destination: IPNetwork("10.46.0.0/16")!, linkIndex: index)
    let onLinkRoute = Route(destination: IPNetwork("10.47.0.0/16")!, gateway: IPAddress("192.0.2.1"),
                            linkIndex: index, onLink: true)
    try ns.socket.addRoute(defaultRoute)
    try ns.socket.addRoute(subnetRoute)
    try ns.socket.addRoute(onLinkRoute)

    let kernel = ns.ipRoutes()
    let kernelDefault = kernel.first { $0["dst"] as? String == "default" }
    #expect(kernelDefault?["gateway"] as? String == "10.45.0.1")
    // `ip -j route` leaves out "protocol" for RTPROT_BOOT, its own default.
    #expect(kernelDefault?["protocol"] == nil)
    let kernelSubnet = kernel.first { $0["dst"] as? String == "10.46.0.0/16" }
    #expect(kernelSubnet?["dev"] as? String == "r0")
    // Sent with universe scope, as the reference plugins do, not the link scope libnl would guess.
    #expect(kernelSubnet?["scope"] == nil)
    let kernelOnLink = kernel.first { $0["dst"] as? String == "10.47.0.0/16" }
    #expect((kernelOnLink?["flags"] as? [String])?.contains("onlink") == true)

    let listed = try ns.socket.routes(family: AF_INET)
    let listedDefault = listed.first { $0.isDefault }
    #expect(listedDefault?.gateway == IPAddress("10.45.0.1"))
    #expect(listedDefault?.linkIndex == index)
    #expect(listedDefault?.proto == 3)  // RTPROT_BOOT
    #expect(listed.contains { $0.destination == IPNetwork("10.47.0.0/16")! && $0.onLink })

    do {
        try ns.socket.addRoute(defaultRoute)
        Issue.record("adding a duplicate route succeeded")
    } catch {
        #expect(error.isAlreadyExists)
    }

    try ns.socket.deleteRoute(defaultRoute)
    #expect(!ns.ipRoutes().contains { $0["dst"] as? String == "default" })
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func ipv6DefaultRoute() throws {
    let ns = try TestNamespace()
    try ns.addLink("r6")
    let index = try ns.socket.link(named: "r6").index
    try ns.socket.setUp(index: index)
    try ns.namespace.run { try Sysctl.write("net/ipv6/conf/r6/accept_dad", "0") }
    try ns.socket.addAddress(IPNetwork("fd47::5/64")!, index: index)

    try ns.socket.addRoute(Route(destination: .defaultRoute(family: AF_INET6), gateway: IPAddress("fd47::1"), linkIndex: index))
    let kernelDefault = ns.ipRoutes(ipv6: true).first { $0["dst"] as? String == "default" }
    #expect(kernelDefault?["gateway"] as? String == "fd47::1")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func permanentNeighbour() throws {
    let ns = try TestNamespace()
    try ns.addLink("n0")
    let index = try ns.socket.link(named: "n0").index
    try ns.socket.setUp(index: index)

    try ns.socket.addNeighbour(address: IPAddress("10.48.0.9")!, mac: MACAddress("02:00:00:00:00:09")!, index: index)
    let neighbours = jsonArray(try runCommand("/usr/sbin/ip", ["-n", ns.name, "-j", "neigh", "show", "dev", "n0"]))
    let entry = neighbours.first { $0["dst"] as? String == "10.48.0.9" }
    #expect(entry?["lladdr"] as? String == "02:00:00:00:00:09")
    #expect((entry?["state"] as? [String])?.contains("PERMANENT") == true)

    try ns.socket.deleteNeighbour(address: IPAddress("10.48.0.9")!, index: index)
    let after = jsonArray(try runCommand("/usr/sbin/ip", ["-n", ns.name, "-j", "neigh", "show", "dev", "n0"]))
    #expect(!after.contains { $0["dst"] as? String == "10.48.0.9" })
}

@Test func masqueradeChainNameMatchesReference() {
    // Expected values computed with Python's hashlib: "CNI-" + sha512("mynet" + "sandbox-1") hex, cut to 28 characters.
    #expect(IPMasquerade.chainName(network: "mynet", containerID: "sandbox-1") == "CNI-8154bdf1b49efcfa05f7c569")
    #expect(IPMasquerade.comment(network: "mynet", containerID: "sandbox-1") == #"name: "mynet" id: "sandbox-1""#)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func replaceRouteChangesGateway() throws {
    let ns = try TestNamespace()
    try ns.addLink("rr0")
    let index = try ns.socket.link(named: "rr0").index
    try ns.socket.setUp(index: index)
    try ns.socket.addAddress(IPNetwork("10.49.0.5/24")!, index: index)
    let destination = IPNetwork("10.51.0.0/16")!

    try ns.socket.replaceRoute(Route(destination: destination, gateway: IPAddress("10.49.0.1"), linkIndex: index))
    try ns.socket.replaceRoute(Route(destination: destination, gateway: IPAddress("10.49.0.2"), linkIndex: index))

    let matching = try ns.socket.routes(family: AF_INET).filter { $0.destination == destination }
    #expect(matching.count == 1)
    #expect(matching.first?.gateway == IPAddress("10.49.0.2"))
}
