import BackendSDK
import CNI
import Foundation
import Glibc
import Netlink
import NetworkSetup
import Netns

/// The native `bridge` plugin: a veth pair from a Linux bridge in the host
/// namespace into the pod namespace, with the behaviour and results of the
/// reference CNI bridge plugin (containernetworking/plugins 1.1.1).
///
/// Usable alone: tests call `add`, `del` and `check` directly, and
/// `BridgeBackend` exposes them through the backend ABI.
public final class BridgePlugin: Sendable {
    let ipam: PodIPAM
    /// The namespace of the bridge: the process's own namespace in production.
    let host: HostNamespace
    /// Indexes of the bridges whose router advertisements this plugin has
    /// turned off, so later attaches skip the sysctl write.
    let preparedBridges = PreparedBridges()

    public init(ipam: PodIPAM = PodIPAM(), host: HostNamespace = .process) {
        self.ipam = ipam
        self.host = host
    }

    /// Attaches `request.ifName` in `request.netns` to the configured bridge
    /// (CNI ADD) and returns the result: interfaces bridge, host veth and pod
    /// veth, in that order. On failure it removes the veth pair, releases
    /// the addresses and masquerade rules it added, and throws a `CNIError`.
    /// A bridge it created stays, as with the reference plugin.
    ///
    /// `deadline` is checked before each step, bounds the wait for the host
    /// veth to come up and the iptables lock wait, and is passed to an IPAM
    /// plugin run through the host's CNI executor. A passed deadline fails the
    /// attach with code 11 (try again later) after the rollback.
    ///
    /// NOTE: a single netlink request and native host-local IPAM's `flock`
    /// wait are not interrupted by the deadline.
    public func add(_ request: AttachRequest, deadline: Deadline = .none) throws -> CNIResult {
        var config = try BridgeConfig(request: request)
        if config.isDefaultGateway { config.isGateway = true }
        if config.hairpinMode && config.promiscMode {
            throw CNIError(code: CNIError.invalidNetworkConfig,
                           msg: "cannot set hairpin mode and promiscuous mode at the same time")
        }
        let mac = try config.mac.map { (text) throws(CNIError) in try CNIAddresses.mac(text, field: "mac") }

        let pod = try openPodNamespace(request.netns)
        // The pod namespace's socket is made on its executor thread while
        // this thread works in the host namespace.
        let podSocketTask = pod.start { try NetlinkSocket() }

        // host-local allocation is file work, so it runs on a thread of its
        // own while this thread creates the bridge port.
        let allocationTask = config.ipamType == nil ? nil : BackgroundTask { [ipam] in
            try ipam.add(request, deadline: deadline)
        }
        var rollback = Rollback()
        if let allocationTask {
            // The release must run even after the deadline has passed, so
            // it gets a short deadline of its own.
            rollback.add { [ipam] in
                if (try? allocationTask.wait()) != nil { try? ipam.del(request, deadline: .after(seconds: 2)) }
            }
        }
        var dadTask: NamespaceTask<Void>?
        do {
            try deadline.check(before: "creating the bridge")
            let hostSocket = try host.makeSocket()
            let bridge = try ensureBridge(config, socket: hostSocket)

            try deadline.check(before: "creating the veth pair")
            let podSocket = try podSocketTask.wait()
            let hostVethName = try createVeth(request: request, config: config, mac: mac, bridge: bridge, pod: pod,
                                              podSocket: podSocket, hostSocket: hostSocket)
            rollback.add { [hostSocket] in
                if let link = try? hostSocket.linkIfPresent(named: hostVethName) {
                    try? hostSocket.deleteLink(index: link.index)
                }
            }
            // The DAD sysctls must be written before the pod end comes up. They
            // need a thread inside the pod namespace, which writes them while
            // this thread continues.
            if config.ipamType != nil {
                let ifName = request.ifName
                let enableDAD = config.enableDAD
                dadTask = pod.start { configurePodDAD(ifName: ifName, enableDAD: enableDAD) }
            }
            try configurePort(named: hostVethName, config: config, socket: hostSocket)
            let podLink = try podSocket.link(named: request.ifName)

            var result = CNIResult(cniVersion: config.cniVersion.isEmpty ? CNIVersion.current.description : config.cniVersion)
            result.interfaces = [
                CNIResult.Interface(name: bridge.name, mac: bridge.mac?.description),
                CNIResult.Interface(name: hostVethName),
                CNIResult.Interface(name: request.ifName, mac: podLink.mac?.description, sandbox: request.netns),
            ]

            if config.macSpoofCheck, let podMAC = podLink.mac {
                let spoofCheck = MACSpoofCheck(host: host, containerID: request.sandboxID, ifName: request.ifName)
                rollback.add { try? spoofCheck.teardown() }
                try spoofCheck.setup(hostInterface: hostVethName, mac: podMAC.description)
            }

            if let allocationTask {
                let allocation = try allocationTask.wait()
                guard !allocation.ips.isEmpty else {
                    throw CNIError(code: CNIError.internalError, msg: "IPAM plugin returned missing IP config")
                }
                result.ips = allocation.ips
                result.routes = allocation.routes
                result.dns = allocation.dns
                let gateways = try BridgeGateways.apply(to: &result, config: config)

                try deadline.check(before: "configuring the pod interface")
                // Gratuitous ARP on address changes, as the reference plugin sets it.
                try? podSocket.setARPNotify(index: podLink.index, true)
                try dadTask?.wait()
                try InterfaceConfiguration.configure(link: podLink, result: result, socket: podSocket, namespace: pod,
                                                     settleTimeout: deadline.secondsLeft(max: 10))

                if config.isGateway {
                    try assignGateways(gateways, bridge: bridge, config: config, socket: hostSocket)
                }
                if config.ipMasq {
                    let masquerade = IPMasquerade(host: host)
                    for (position, ip) in result.ips.enumerated() {
                        try deadline.check(before: "adding masquerade rules")
                        let address = try CNIAddresses.network(ip.address, field: "ips[\(position)].address")
                        rollback.add { try? masquerade.teardown(address: address, network: config.name, containerID: request.sandboxID) }
                        try masquerade.setup(address: address, network: config.name, containerID: request.sandboxID,
                                             deadline: deadline)
                    }
                }
            } else {
                try podSocket.setUp(index: podLink.index)
            }

            // The host veth reaches operational state UP once its peer is up;
            // its MAC and the bridge's may change when the port joins.
            let hostVeth = try waitForOperationalUp(named: hostVethName, socket: hostSocket, deadline: deadline)
            result.interfaces[1].mac = hostVeth.mac?.description
            result.interfaces[0].mac = try hostSocket.link(index: bridge.index).mac?.description
            if let dns = config.dns { result.dns = dns }

            rollback.discard()
            return result
        } catch {
            // The namespace tasks may still run when an early step failed.
            _ = try? podSocketTask.wait()
            _ = try? dadTask?.wait()
            rollback.run()
            throw cniError(error)
        }
    }

    /// Detaches the interface with CNI DEL semantics: deletes the pod
    /// interface (which deletes the host veth), releases the addresses and
    /// removes the MAC spoof check and masquerade rules. Succeeds when the namespace or the
    /// interface is gone, and when repeated.
    ///
    /// The deletion returns once the kernel has removed both veth ends from
    /// their namespaces. The kernel's own wait for the device's release
    /// finishes on a background thread (see `LinkDeletion`). The addresses
    /// are released meanwhile.
    public func del(_ request: AttachRequest, deadline: Deadline = .none) throws {
        let config = try BridgeConfig(request: request)
        var addresses: [IPNetwork] = []
        if let previous = request.prevResult, let recorded = try? CNIResult(json: previous) {
            addresses = recorded.ips.compactMap { IPNetwork($0.address) }
        }

        var deletion: PodInterfaceDeletion?
        if !request.netns.isEmpty, let pod = try openPodNamespaceForDelete(request.netns) {
            // The masquerade rules name the addresses, so when the result
            // misses some, the interface's own addresses fill in.
            deletion = try PodInterfaceDeletion(ifName: request.ifName, in: pod, host: host,
                                                readAddresses: config.ipMasq && config.ipamType != nil)
            for address in deletion?.addresses ?? [] where !addresses.contains(address) { addresses.append(address) }
        }

        // Wait for the removal before rethrowing a release error, so that DEL
        // never returns while the interface is still there.
        var releaseError: Error?
        do {
            if config.ipamType != nil {
                try ipam.del(request, deadline: deadline)
            }
            if config.macSpoofCheck {
                try MACSpoofCheck(host: host, containerID: request.sandboxID, ifName: request.ifName).teardown()
            }
        } catch {
            releaseError = error
        }
        try deletion?.wait(deadline: deadline)
        if let releaseError { throw releaseError }

        if config.ipamType != nil && config.ipMasq {
            let masquerade = IPMasquerade(host: host)
            for address in addresses {
                try masquerade.teardown(address: address, network: config.name, containerID: request.sandboxID,
                                        deadline: deadline)
            }
        }
    }

    /// Verifies the attachment against `request.prevResult` (CNI CHECK): the
    /// bridge exists with the configured promiscuous mode, the pod interface
    /// is a veth whose peer is a port of the bridge, and the recorded
    /// addresses and routes are in the pod namespace.
    public func check(_ request: AttachRequest, deadline: Deadline = .none) throws {
        let config = try BridgeConfig(request: request)
        guard let previous = request.prevResult else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "Required prevResult missing")
        }
        let recorded = try CNIResult(json: previous)
        if config.ipamType != nil { try ipam.check(request, deadline: deadline) }

        let hostSocket = try host.makeSocket()
        guard recorded.interfaces.contains(where: { $0.name == config.bridge && $0.sandbox == nil }) else {
            throw CNIError(code: CNIError.internalError, msg: "bridge \"\(config.bridge)\" is missing from prevResult")
        }
        guard let bridge = try hostSocket.linkIfPresent(named: config.bridge) else {
            throw CNIError(code: CNIError.internalError, msg: "CNI created bridge \"\(config.bridge)\" in host namespace was not found")
        }
        guard bridge.kind == "bridge" else {
            throw CNIError(code: CNIError.internalError, msg: "interface \"\(config.bridge)\" does not have link type of bridge")
        }
        guard bridge.isPromiscuous == config.promiscMode else {
            throw CNIError(code: CNIError.internalError,
                           msg: "bridge \"\(config.bridge)\" promiscuous mode is \(bridge.isPromiscuous), configured \(config.promiscMode)")
        }

        guard let podEntry = recorded.interfaces.first(where: { $0.name == request.ifName && $0.sandbox == request.netns }) else {
            throw CNIError(code: CNIError.internalError,
                           msg: "interface \"\(request.ifName)\" in sandbox \"\(request.netns)\" is missing from prevResult")
        }
        let pod = try openPodNamespace(request.netns)
        let podSocket = try pod.run { try NetlinkSocket() }
        guard let podLink = try podSocket.linkIfPresent(named: request.ifName) else {
            throw CNIError(code: CNIError.internalError, msg: "CNI created interface in container \"\(request.ifName)\" not found")
        }
        guard podLink.kind == "veth" else {
            throw CNIError(code: CNIError.internalError, msg: "container interface \"\(request.ifName)\" is not of type veth")
        }
        if let mac = podEntry.mac, mac != podLink.mac?.description {
            throw CNIError(code: CNIError.internalError,
                           msg: "interface \"\(request.ifName)\" MAC \(podLink.mac?.description ?? "none") doesn't match recorded \(mac)")
        }
        // The pod end's IFLA_LINK is the host end's index in the host namespace.
        let hostVeth = try? hostSocket.link(index: podLink.parentIndex)
        guard let hostVeth, hostVeth.kind == "veth", hostVeth.masterIndex == bridge.index else {
            throw CNIError(code: CNIError.internalError, msg: "CNI veth created for bridge \"\(config.bridge)\" was not found")
        }

        try ResultValidation.validateAddresses(ifName: request.ifName, ips: recorded.ips, socket: podSocket)
        try ResultValidation.validateRoutes(recorded.routes, socket: podSocket)
    }
}
