import BackendTestSupport
import BackendSDK
import CNI
import Foundation
import Glibc
import MacvlanNetwork
import Netlink
import NetworkSetup
import Netns
import Testing

/// A host namespace whose link `par0` is the macvlan parent. The other end
/// of par0 sits in a peer namespace with address 10.40.0.100/24, standing in
/// for another machine on the parent's network.
struct MacvlanFixture {
    let host: TestNamespace
    let peer: TestNamespace
    let data = TestDataDirectory()
    let plugin: MacvlanPlugin
    let network = "mv-" + randomSuffix(8)

    init() throws {
        host = try TestNamespace("hymh")
        peer = try TestNamespace("hymp")
        try host.socket.addVethPair(name: "par0", peerName: "par0", peerNamespaceFD: peer.namespace.fileDescriptor, mtu: 1500)
        try host.socket.setUp(index: try host.socket.link(named: "par0").index)
        let peerLink = try peer.socket.link(named: "par0")
        try peer.socket.addAddress(IPNetwork("10.40.0.100/24")!, index: peerLink.index)
        try peer.socket.setUp(index: peerLink.index)
        plugin = MacvlanPlugin(host: HostNamespace(namespace: host.namespace))
    }

    func config(master: String? = "par0", extra: String = "", subnet: String = "10.40.0.0/24") -> String {
        let masterKey = master.map { #""master": "\#($0)", "# } ?? ""
        return """
        {"cniVersion": "1.0.0", "name": "\(network)", "type": "macvlan", \(masterKey)"mode": "bridge"\(extra.isEmpty ? "" : ", " + extra),
         "ipam": {"type": "host-local", "subnet": "\(subnet)", "rangeStart": "10.40.0.10", "dataDir": "\(data.path)"}}
        """
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanAddAndDelete() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    let config = fixture.config(extra: #""mtu": 1400"#)
    let request = try makeRequest(config, netns: pod.path, sandboxID: "mv-a",
                                  runtimeConfig: ["mac": .string("0a:58:0a:28:00:0a")])

    let result = try fixture.plugin.add(request)

    #expect(result.interfaces == [CNIResult.Interface(name: "net1", mac: "0a:58:0a:28:00:0a", sandbox: pod.path)])
    #expect(result.ips.first?.address == "10.40.0.10/24")
    #expect(result.ips.first?.interface == 0)
    let link = try pod.socket.link(named: "net1")
    #expect(link.kind == "macvlan")
    #expect(link.macvlanMode == "bridge")
    #expect(link.mtu == 1400)
    #expect(link.mac?.description == "0a:58:0a:28:00:0a")
    #expect(link.parentIndex == (try fixture.host.socket.link(named: "par0")).index)
    #expect(pod.addresses("net1") == ["10.40.0.10/24"])
    #expect(try fixture.host.socket.linkIfPresent(named: "net1") == nil)

    let check = try makeRequest(config, netns: pod.path, sandboxID: "mv-a", prevResult: try result.jsonValue())
    try fixture.plugin.check(check)

    try fixture.plugin.del(check)
    #expect(try pod.socket.linkIfPresent(named: "net1") == nil)
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
    try fixture.plugin.del(check)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanPodPingsParentNetwork() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    _ = try fixture.plugin.add(try makeRequest(fixture.config(), netns: pod.path, sandboxID: "mv-ping"))

    #expect(ping(from: pod, "10.40.0.100"))
    #expect(ping(from: fixture.peer, "10.40.0.10"))
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanDefaultMasterIsDefaultRouteInterface() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    let parent = try fixture.host.socket.link(named: "par0")
    try fixture.host.socket.addAddress(IPNetwork("10.40.0.2/24")!, index: parent.index)
    try fixture.host.socket.addRoute(Route(destination: .defaultRoute(family: AF_INET),
                                           gateway: IPAddress("10.40.0.100"), linkIndex: parent.index))

    _ = try fixture.plugin.add(try makeRequest(fixture.config(master: nil), netns: pod.path, sandboxID: "mv-default"))
    #expect(try pod.socket.link(named: "net1").parentIndex == parent.index)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanMasterInsideContainer() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    try pod.socket.addVethPair(name: "inner0", peerName: "inner0p", peerNamespaceFD: nil)
    let inner = try pod.socket.link(named: "inner0")

    let config = fixture.config(master: "inner0", extra: #""linkInContainer": true"#)
    _ = try fixture.plugin.add(try makeRequest(config, netns: pod.path, sandboxID: "mv-inner"))
    #expect(try pod.socket.link(named: "net1").parentIndex == inner.index)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanExistingInterfaceFailsCleanly() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    try pod.socket.addVethPair(name: "net1", peerName: "net1p", peerNamespaceFD: nil)

    do {
        _ = try fixture.plugin.add(try makeRequest(fixture.config(), netns: pod.path, sandboxID: "mv-exists"))
        Issue.record("attaching over an existing net1 succeeded")
    } catch {
        #expect("\(error)".contains("\"net1\" already exists"))
    }
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
    #expect(try pod.socket.links().filter { $0.kind == "macvlan" }.isEmpty)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanRejectsMTUAboveMaster() throws {
    let fixture = try MacvlanFixture()
    let pod = try TestNamespace("hypod")
    do {
        _ = try fixture.plugin.add(try makeRequest(fixture.config(extra: #""mtu": 9000"#), netns: pod.path, sandboxID: "mv-mtu"))
        Issue.record("an MTU above the master's was accepted")
    } catch {
        #expect("\(error)".contains("invalid MTU 9000, must be [0, master MTU(1500)]"))
    }
    #expect(try pod.socket.linkIfPresent(named: "net1") == nil)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanDeleteWithoutNamespaceReleasesAddress() throws {
    let fixture = try MacvlanFixture()
    var pod: TestNamespace? = try TestNamespace("hypod")
    let path = pod!.path
    _ = try fixture.plugin.add(try makeRequest(fixture.config(), netns: path, sandboxID: "mv-gone"))
    pod = nil

    try fixture.plugin.del(try makeRequest(fixture.config(), netns: path, sandboxID: "mv-gone"))
    #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/macvlan"),
               "needs root and the reference macvlan plugin"))
func macvlanMatchesReference() throws {
    for mode in ["bridge", "private", "vepa"] {
        let native = try MacvlanFixture()
        let reference = try MacvlanFixture()
        let nativePod = try TestNamespace("hypod")
        let referencePod = try TestNamespace("hypod")
        func config(_ fixture: MacvlanFixture) -> String {
            """
            {"cniVersion": "1.0.0", "name": "mvdiff", "type": "macvlan", "master": "par0", "mode": "\(mode)", "mtu": 1450,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.41.0.0/24"}], [{"subnet": "fd41::/64"}]],
                      "routes": [{"dst": "10.50.0.0/16", "gw": "10.41.0.254"}, {"dst": "fd50::/64", "gw": "fd41::fe"}], "dataDir": "\(fixture.data.path)"}}
            """
        }

        let nativeResult = try native.plugin.add(try makeRequest(config(native), netns: nativePod.path, sandboxID: "mvd"))
        let referenceResult = try #require(try runReferencePlugin("macvlan", command: "ADD", config: config(reference),
                                                                  host: reference.host, netns: referencePod.path,
                                                                  containerID: "mvd"))

        func state(_ pod: TestNamespace) throws -> [String] {
            let link = try pod.socket.link(named: "net1")
            let keys = ["net/ipv4/conf/net1/arp_notify", "net/ipv6/conf/net1/ndisc_notify"]
            let sysctls = try pod.namespace.run { keys.map { "\($0)=\(Sysctl.read($0) ?? "-")" } }
            return ["kind \(link.kind ?? "")", "mode \(link.macvlanMode ?? "")", "mtu \(link.mtu)", "up \(link.isUp)"]
                + pod.addresses("net1") + pod.routes() + pod.routes(ipv6: true) + sysctls
        }
        let nativeState = try state(nativePod)
        #expect(nativeState.count > 6)
        #expect(nativeState == (try state(referencePod)), "mode \(mode)")

        // Each plugin's CHECK accepts the other's attachment. The routes carry
        // gateways because the 1.1.1 reference CHECK fails to find a route
        // without one, even right after its own ADD.
        guard case .object(var checkConfig) = try JSONValue(parsing: config(native)) else { return }
        checkConfig["prevResult"] = try nativeResult.jsonValue(as: "1.0.0")
        guard case .object(var refCheck) = try JSONValue(parsing: config(reference)) else { return }
        refCheck["prevResult"] = referenceResult
        _ = try runReferencePlugin("macvlan", command: "CHECK", config: JSONValue.object(refCheck).encodedString(),
                                   host: reference.host, netns: referencePod.path, containerID: "mvd")
        _ = try runReferencePlugin("macvlan", command: "CHECK", config: JSONValue.object(checkConfig).encodedString(),
                                   host: native.host, netns: nativePod.path, containerID: "mvd")
        try reference.plugin.check(try makeRequest(config(reference), netns: referencePod.path, sandboxID: "mvd",
                                                   prevResult: referenceResult))

        let nativeJSON = withoutMAC(try nativeResult.jsonValue(as: "1.0.0"), sandbox: nativePod.path)
        let referenceJSON = withoutMAC(referenceResult, sandbox: referencePod.path)
        #expect(nativeJSON == referenceJSON, "native: \(nativeJSON.encodedString())\nreference: \(referenceJSON.encodedString())")
    }
}

/// Returns a result with interface MACs and the sandbox path replaced by placeholders.
func withoutMAC(_ value: JSONValue, sandbox: String) -> JSONValue {
    guard case .object(var members) = value, case .array(let interfaces)? = members["interfaces"] else { return value }
    members["interfaces"] = .array(interfaces.map { entry in
        guard case .object(var fields) = entry else { return entry }
        if fields["mac"] != nil { fields["mac"] = .string("MAC") }
        if fields["sandbox"]?.stringValue == sandbox { fields["sandbox"] = .string("SANDBOX") }
        return .object(fields)
    })
    return .object(members)
}
