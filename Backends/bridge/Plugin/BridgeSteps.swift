import BackendSDK
import CNI
import Foundation
import Glibc
import Netlink
import NetworkSetup
import Netns

// The steps of BridgePlugin.add, in the order it runs them.

extension BridgePlugin {
    /// Opens the pod namespace for ADD and CHECK; a missing path is a `CNIError` naming it.
    func openPodNamespace(_ path: String) throws -> NetworkNamespace {
        do {
            return try NetworkNamespace(path: path)
        } catch {
            throw CNIError(code: CNIError.invalidNetNS, msg: "failed to open netns \"\(path)\": \(error)")
        }
    }

    /// Opens the pod namespace for DEL, or returns nil when it is gone: the
    /// path is missing, or it is no longer a namespace (a bind mount that was
    /// unmounted leaves an empty file behind).
    func openPodNamespaceForDelete(_ path: String) throws -> NetworkNamespace? {
        do {
            return try NetworkNamespace(path: path)
        } catch {
            switch error {
            case .notFound, .notNetworkNamespace:
                return nil
            default:
                throw CNIError(code: CNIError.invalidNetNS, msg: "failed to open netns \"\(path)\": \(error)")
            }
        }
    }

    /// Creates the bridge unless it exists, sets promiscuous mode when
    /// configured, turns off router advertisements on it and sets it up.
    func ensureBridge(_ config: BridgeConfig, socket: NetlinkSocket) throws -> Link {
        // Every attach after the first finds the bridge, so a lookup comes
        // first and saves the failing create request.
        let existing = try socket.linkIfPresent(named: config.bridge)
        if existing == nil {
            do {
                try socket.addBridge(name: config.bridge, mtu: config.mtu > 0 ? UInt32(config.mtu) : nil,
                                     vlanFiltering: config.vlan != 0)
            } catch {
                // Another attach may have created the bridge since the lookup.
                if !error.isAlreadyExists { throw error }
            }
        }
        var bridge = try existing ?? socket.link(named: config.bridge)
        guard bridge.kind == "bridge" else {
            throw CNIError(code: CNIError.internalError, msg: "\"\(config.bridge)\" already exists but is not a bridge")
        }
        if config.promiscMode && !bridge.isPromiscuous { try socket.setPromiscuous(index: bridge.index, true) }
        // A bridge that is deleted and created again gets a new index, so
        // the sysctl is written once per bridge instance.
        if preparedBridges.insert(bridge.index) {
            try host.run { try? Sysctl.write("net/ipv6/conf/\(config.bridge)/accept_ra", "0") }
        }
        // An existing bridge that is already up needs neither the request nor a
        // fresh lookup: two netlink round trips saved on every later attach.
        if bridge.isUp && (bridge.isPromiscuous || !config.promiscMode) { return bridge }
        try socket.setUp(index: bridge.index)
        bridge = try socket.link(index: bridge.index)
        return bridge
    }

    /// Creates the veth pair with the pod end created directly in the pod
    /// namespace under `request.ifName`, and returns the host end's name
    /// ("veth" and 8 random hex digits, as the reference plugin names it).
    /// The host end is created up and already a port of `bridge`, in the
    /// same request. A host name collision is retried with a new name.
    func createVeth(request: AttachRequest, config: BridgeConfig, mac: MACAddress?, bridge: Link,
                    pod: NetworkNamespace, podSocket: NetlinkSocket, hostSocket: NetlinkSocket) throws -> String {
        let mtu = config.mtu > 0 ? UInt32(config.mtu) : nil
        for _ in 0..<4 {
            let hostName = "veth" + String(format: "%08x", UInt32.random(in: 0...UInt32.max))
            do {
                try hostSocket.addVethPair(name: hostName, peerName: request.ifName,
                                           peerNamespaceFD: pod.fileDescriptor, mtu: mtu, peerMAC: mac,
                                           masterIndex: bridge.index, up: true)
            } catch {
                guard error.isAlreadyExists else {
                    throw CNIError(code: CNIError.internalError,
                                   msg: "failed to create veth \"\(hostName)\" as a port of bridge \"\(bridge.name)\": \(error.reason)")
                }
                if try podSocket.linkIfPresent(named: request.ifName) != nil {
                    throw CNIError(code: CNIError.internalError,
                                   msg: "interface \"\(request.ifName)\" already exists in network namespace \"\(request.netns)\"")
                }
                continue
            }
            return hostName
        }
        throw CNIError(code: CNIError.internalError, msg: "failed to find a free host veth name after 4 attempts")
    }

    /// Sets hairpin mode and the access VLAN on the host veth, when
    /// configured. A new port starts with hairpin off and without VLANs, so
    /// the default configuration needs no request here.
    func configurePort(named name: String, config: BridgeConfig, socket: NetlinkSocket) throws {
        guard config.hairpinMode || config.vlan != 0 else { return }
        let veth = try socket.link(named: name)
        if config.hairpinMode { try socket.setHairpin(portIndex: veth.index, true) }
        if config.vlan != 0 {
            try socket.addBridgeVLAN(portIndex: veth.index, vid: UInt16(config.vlan), pvid: true, untagged: true)
        }
    }

    /// Adds each gateway address to the bridge (see `ensureAddress`) and
    /// enables forwarding for the families that have one.
    func assignGateways(_ gateways: BridgeGateways, bridge: Link, config: BridgeConfig, socket: NetlinkSocket) throws {
        for gateway in gateways.ipv4 + gateways.ipv6 {
            try ensureAddress(gateway, bridge: bridge, forceAddress: config.forceAddress, socket: socket)
        }
        try host.run {
            if !gateways.ipv4.isEmpty { try Sysctl.write("net/ipv4/ip_forward", "1") }
            if !gateways.ipv6.isEmpty { try Sysctl.write("net/ipv6/conf/all/forwarding", "1") }
        }
    }

    /// Puts `gateway` on the bridge. An IPv4 bridge has one address, and a
    /// different one is an error unless `forceAddress` replaces it. IPv6
    /// addresses may coexist unless their subnets overlap. After adding, the
    /// bridge's MAC is pinned to its current value, so that it no longer
    /// follows the lowest port MAC as ports come and go.
    func ensureAddress(_ gateway: IPNetwork, bridge: Link, forceAddress: Bool, socket: NetlinkSocket) throws {
        let present = try socket.addresses(index: bridge.index, family: gateway.address.family)
        if present.contains(where: { $0.network == gateway }) { return }
        for existing in present.map(\.network) {
            let overlaps = existing.contains(gateway.address) || gateway.contains(existing.address)
            guard gateway.address.isIPv4 || overlaps else { continue }
            guard forceAddress else {
                throw CNIError(code: CNIError.internalError,
                               msg: "\"\(bridge.name)\" already has an IP address different from \(gateway)")
            }
            try socket.deleteAddress(existing, index: bridge.index)
        }
        do {
            try socket.addAddress(gateway, index: bridge.index)
        } catch {
            // Another attach to the same bridge may have added it concurrently.
            if !error.isAlreadyExists { throw error }
        }
        if let mac = try socket.link(index: bridge.index).mac {
            try socket.setMAC(index: bridge.index, mac)
        }
    }

    /// Polls the host veth until its operational state is UP, for up to 2.5 s
    /// (the total wait of the reference plugin's retries) or until `deadline`,
    /// whichever comes first. The pause between polls starts at 50 µs and
    /// doubles up to 1 ms: the link is usually up within a few hundred
    /// microseconds, and a fixed 1 ms pause made every attach wait that long.
    func waitForOperationalUp(named name: String, socket: NetlinkSocket, deadline: Deadline) throws -> Link {
        let limit = Deadline.after(seconds: 2.5)
        let stop = min(limit, deadline)
        var pause: UInt32 = 50
        while true {
            let link = try socket.link(named: name)
            if link.isOperationallyUp { return link }
            if stop.hasExpired {
                let waited = stop == limit ? "after 2.5 s" : "by the deadline"
                throw CNIError(code: stop == limit ? CNIError.internalError : CNIError.tryAgainLater,
                               msg: "bridge port \"\(name)\" is not operationally up (state \(link.operState)) \(waited)")
            }
            usleep(pause)
            pause = min(pause * 2, 1_000)
        }
    }
}

/// Sets the pod interface's IPv6 duplicate address detection as the
/// reference bridge plugin does: off unless `enabledad`. Call it inside the
/// pod namespace. Missing keys (IPv6 disabled) are ignored. The plugin's
/// other pod setting, `arp_notify`, goes through netlink (`setARPNotify`).
func configurePodDAD(ifName: String, enableDAD: Bool) {
    if enableDAD {
        try? Sysctl.write("net/ipv6/conf/\(ifName)/enhanced_dad", "1")
        try? Sysctl.write("net/ipv6/conf/\(ifName)/accept_dad", "1")
    } else {
        try? Sysctl.write("net/ipv6/conf/\(ifName)/accept_dad", "0")
    }
}

/// The bridge indexes a `BridgePlugin` has prepared. Safe to use from many threads.
final class PreparedBridges: @unchecked Sendable {
    // Sendable: `indexes` is only touched with `lock` held.
    private let lock = NSLock()
    private var indexes: Set<Int32> = []

    /// Adds `index` and returns true when it was not there yet.
    func insert(_ index: Int32) -> Bool {
        lock.withLock { indexes.insert(index).inserted }
    }
}

/// Undo steps of a partly done attach, run in reverse order on failure.
struct Rollback {
    private var steps: [() -> Void] = []

    mutating func add(_ step: @escaping () -> Void) {
        steps.append(step)
    }

    /// Runs the steps, last added first.
    func run() {
        for step in steps.reversed() { step() }
    }

    /// Forgets the steps once the attach succeeded.
    mutating func discard() {
        steps.removeAll()
    }
}
