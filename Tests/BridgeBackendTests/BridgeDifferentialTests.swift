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

// The same configuration goes through the native plugin and through the
// reference plugin /usr/lib/cni/bridge, each in its own host and pod
// namespaces with its own host-local directory, and the resulting kernel
// state and result JSON must match.

/// One side of a differential run: a host namespace, a pod namespace and an IPAM directory.
struct DifferentialSide {
    let host: TestNamespace
    let pod: TestNamespace
    let data = TestDataDirectory()

    init() throws {
        host = try TestNamespace("hydh")
        pod = try TestNamespace("hydp")
    }
}

/// The kernel state a bridge attach produces, with names and MACs that
/// legitimately differ (random veth names) left out.
struct BridgeKernelState: Equatable, CustomStringConvertible {
    var bridge: [String] = []
    var hostVeth: [String] = []
    var pod: [String] = []
    var natRules: [String] = []

    var description: String {
        "bridge: \(bridge)\nhost veth: \(hostVeth)\npod: \(pod)\nnat: \(natRules)"
    }

    /// Reads the state of `side` for bridge `bridge`, pod interface net1 and masquerade chain `chain`.
    static func read(_ side: DifferentialSide, bridge: String, chain: String) throws -> BridgeKernelState {
        var state = BridgeKernelState()
        let bridgeLink = try side.host.socket.link(named: bridge)
        state.bridge = ["kind \(bridgeLink.kind ?? "")", "mtu \(bridgeLink.mtu)", "up \(bridgeLink.isUp)",
                        "promisc \(bridgeLink.isPromiscuous)"] + side.host.addresses(bridge)

        let ports = try side.host.socket.links().filter { $0.masterIndex == bridgeLink.index }
        for port in ports {
            let data = (side.host.ipLink(port.name)?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any]
            state.hostVeth += ["kind \(port.kind ?? "")", "mtu \(port.mtu)", "up \(port.isUp)",
                               "hairpin \(data?["hairpin"] as? Bool ?? false)", "promisc \(port.isPromiscuous)"]
        }

        let podLink = try side.pod.socket.link(named: "net1")
        state.pod = ["kind \(podLink.kind ?? "")", "mtu \(podLink.mtu)", "up \(podLink.isUp)"]
            + side.pod.addresses("net1") + side.pod.routes() + side.pod.routes(ipv6: true)

        state.natRules = side.host.natRules(containing: chain) + side.host.natRules(ipv6: true, containing: chain)

        let hostKeys = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/\(bridge)/accept_ra"]
        state.bridge += try side.host.namespace.run { hostKeys.map { "\($0)=\(Sysctl.read($0) ?? "-")" } }
        let podKeys = ["net/ipv6/conf/net1/accept_dad", "net/ipv4/conf/net1/arp_notify"]
        state.pod += try side.pod.namespace.run { podKeys.map { "\($0)=\(Sysctl.read($0) ?? "-")" } }
        return state
    }
}

/// Returns a result's JSON with the values that differ between two correct
/// attaches replaced: MAC addresses, the random host veth name and the sandbox path.
func normalizedResult(_ value: JSONValue) -> JSONValue {
    guard case .object(var members) = value else { return value }
    if case .array(let interfaces)? = members["interfaces"] {
        members["interfaces"] = .array(interfaces.map { entry in
            guard case .object(var fields) = entry else { return entry }
            if fields["mac"] != nil { fields["mac"] = .string("MAC") }
            if fields["sandbox"] != nil { fields["sandbox"] = .string("SANDBOX") }
            if let name = fields["name"]?.stringValue, name.hasPrefix("veth") { fields["name"] = .string("VETH") }
            return .object(fields)
        })
    }
    return .object(members)
}

/// Runs `extra` configuration keys with `ranges` through both plugins and compares.
func compareBridgeWithReference(ranges: String, extra: String) throws {
    let native = try DifferentialSide()
    let reference = try DifferentialSide()
    let bridge = "dbr" + randomSuffix(8)
    let network = "diff-" + randomSuffix(8)
    let containerID = "diff-sandbox-" + randomSuffix(8)
    func config(_ side: DifferentialSide) -> String {
        """
        {"cniVersion": "1.0.0", "name": "\(network)", "type": "bridge", "bridge": "\(bridge)", \(extra),
         "ipam": {"type": "host-local", "ranges": \(ranges), "dataDir": "\(side.data.path)"}}
        """
    }

    let plugin = BridgePlugin(host: HostNamespace(namespace: native.host.namespace))
    let nativeResult = try plugin.add(try makeRequest(config(native), netns: native.pod.path, sandboxID: containerID))
    let referenceOutput = try runReferencePlugin("bridge", command: "ADD", config: config(reference), host: reference.host,
                                                 netns: reference.pod.path, containerID: containerID)
    let referenceResult = try #require(referenceOutput)

    let chain = IPMasquerade.chainName(network: network, containerID: containerID)
    let nativeState = try BridgeKernelState.read(native, bridge: bridge, chain: chain)
    let referenceState = try BridgeKernelState.read(reference, bridge: bridge, chain: chain)
    // The states hold what was configured, so that equal states mean something.
    #expect(nativeState.natRules.count >= 4)
    #expect(nativeState.hostVeth.count == 5)
    #expect(!nativeResult.ips.isEmpty)
    #expect(nativeState.bridge == referenceState.bridge)
    #expect(nativeState.hostVeth == referenceState.hostVeth)
    #expect(nativeState.pod == referenceState.pod)
    #expect(nativeState.natRules == referenceState.natRules)
    let nativeJSON = try nativeResult.jsonValue(as: "1.0.0")
    #expect(normalizedResult(nativeJSON) == normalizedResult(referenceResult),
            "native: \(nativeJSON.encodedString())\nreference: \(referenceResult.encodedString())")

    // Each plugin's CHECK accepts the other's attachment.
    let nativeCheckConfig = try withPrevResult(config(native), try nativeResult.jsonValue(as: "1.0.0"))
    _ = try runReferencePlugin("bridge", command: "CHECK", config: nativeCheckConfig, host: native.host,
                               netns: native.pod.path, containerID: containerID)
    let referencePlugin = BridgePlugin(host: HostNamespace(namespace: reference.host.namespace))
    try referencePlugin.check(try makeRequest(config(reference), netns: reference.pod.path, sandboxID: containerID,
                                              prevResult: referenceResult))

    // DEL through both leaves the same clean state: no pod interface, no rules, no reservations.
    try plugin.del(try makeRequest(config(native), netns: native.pod.path, sandboxID: containerID,
                                   prevResult: try nativeResult.jsonValue()))
    _ = try runReferencePlugin("bridge", command: "DEL", config: config(reference), host: reference.host,
                               netns: reference.pod.path, containerID: containerID)
    for side in [native, reference] {
        #expect(try side.pod.socket.linkIfPresent(named: "net1") == nil)
        #expect(side.host.natRules(containing: chain).isEmpty)
        #expect(side.host.natRules(ipv6: true, containing: chain).isEmpty)
        #expect(side.data.reservedAddresses(network: network).isEmpty)
    }
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"),
               "needs root and the reference bridge plugin"))
func bridgeMatchesReferenceIPv4() throws {
    try compareBridgeWithReference(ranges: #"[[{"subnet": "10.31.0.0/24"}]]"#,
                                   extra: #""isGateway": true, "ipMasq": true, "mtu": 1400, "hairpinMode": true"#)
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"),
               "needs root and the reference bridge plugin"))
func bridgeMatchesReferenceIPv6() throws {
    try compareBridgeWithReference(ranges: #"[[{"subnet": "fd31::/64"}]]"#,
                                   extra: #""isDefaultGateway": true, "promiscMode": true, "ipMasq": true"#)
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"),
               "needs root and the reference bridge plugin"))
func bridgeMatchesReferenceDualStack() throws {
    try compareBridgeWithReference(ranges: #"[[{"subnet": "10.32.0.0/24"}], [{"subnet": "fd32::/64"}]]"#,
                                   extra: #""isDefaultGateway": true, "ipMasq": true"#)
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"),
               "needs root and the reference bridge plugin"))
func bridgeMatchesReferenceLayer2() throws {
    let native = try DifferentialSide()
    let reference = try DifferentialSide()
    let bridge = "dbr" + randomSuffix(8)
    let config = #"{"cniVersion": "1.0.0", "name": "l2", "type": "bridge", "bridge": "\#(bridge)", "mtu": 1300}"#

    let plugin = BridgePlugin(host: HostNamespace(namespace: native.host.namespace))
    let nativeResult = try plugin.add(try makeRequest(config, netns: native.pod.path, sandboxID: "l2"))
    let referenceResult = try #require(try runReferencePlugin("bridge", command: "ADD", config: config,
                                                              host: reference.host, netns: reference.pod.path,
                                                              containerID: "l2"))
    let nativeState = try BridgeKernelState.read(native, bridge: bridge, chain: "none")
    let referenceState = try BridgeKernelState.read(reference, bridge: bridge, chain: "none")
    #expect(nativeState == referenceState)
    let nativeJSON = try nativeResult.jsonValue(as: "1.0.0")
    #expect(normalizedResult(nativeJSON) == normalizedResult(referenceResult),
            "native: \(nativeJSON.encodedString())\nreference: \(referenceResult.encodedString())")
}

/// Returns `nft list table bridge nat` inside `side`'s host with veth names replaced.
func spoofCheckRules(_ side: DifferentialSide) -> [String] {
    let text = (try? side.host.run("/usr/sbin/nft", ["list", "table", "bridge", "nat"])) ?? ""
    return text.split(separator: "\n").map { line in
        line.replacingOccurrences(of: #"veth[0-9a-f]{8}"#, with: "VETH", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }
}

@Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"),
               "needs root and the reference bridge plugin"))
func bridgeMatchesReferenceMACSpoofCheck() throws {
    let native = try DifferentialSide()
    let reference = try DifferentialSide()
    let bridge = "dbr" + randomSuffix(8)
    let mac = "0a:58:0a:21:00:05"
    func config(_ side: DifferentialSide) -> String {
        """
        {"cniVersion": "1.0.0", "name": "spoof", "type": "bridge", "bridge": "\(bridge)", "macspoofchk": true,
         "runtimeConfig": {"mac": "\(mac)"},
         "ipam": {"type": "host-local", "subnet": "10.33.0.0/24", "dataDir": "\(side.data.path)"}}
        """
    }

    let plugin = BridgePlugin(host: HostNamespace(namespace: native.host.namespace))
    let nativeResult = try plugin.add(try makeRequest(config(native), netns: native.pod.path, sandboxID: "spoof",
                                                      runtimeConfig: ["mac": .string(mac)]))
    _ = try runReferencePlugin("bridge", command: "ADD", config: config(reference), host: reference.host,
                               netns: reference.pod.path, containerID: "spoof")

    let nativeRules = spoofCheckRules(native)
    #expect(nativeRules.contains("ether saddr \(mac) return comment \"macspoofchk-spoof-net1\""))
    #expect(nativeRules.contains("iifname \"VETH\" jump cni-br-iface-spoof-net1 comment \"macspoofchk-spoof-net1\""))
    #expect(nativeRules == spoofCheckRules(reference))
    #expect(try native.pod.socket.link(named: "net1").mac?.description == mac)

    try plugin.del(try makeRequest(config(native), netns: native.pod.path, sandboxID: "spoof",
                                   prevResult: try nativeResult.jsonValue()))
    _ = try runReferencePlugin("bridge", command: "DEL", config: config(reference), host: reference.host,
                               netns: reference.pod.path, containerID: "spoof")
    let nativeAfter = spoofCheckRules(native)
    #expect(!nativeAfter.contains { $0.contains("macspoofchk-spoof-net1") })
    #expect(nativeAfter == spoofCheckRules(reference))
}

/// Returns the configuration text with `prevResult` set, as a runtime sends it for CHECK and DEL.
func withPrevResult(_ config: String, _ result: JSONValue) throws -> String {
    guard case .object(var members) = try JSONValue(parsing: config) else { return config }
    members["prevResult"] = result
    return JSONValue.object(members).encodedString()
}
