import BackendSDK
import CNI
import Foundation
import Netlink
import NetworkSetup
import Netns

/// The native `macvlan` plugin: a macvlan of a host interface (or of an
/// interface inside the pod with `linkInContainer`) placed in the pod
/// namespace, with the behaviour and results of the reference CNI macvlan
/// plugin (containernetworking/plugins 1.1.1).
public final class MacvlanPlugin: Sendable {
    let ipam: PodIPAM
    /// The namespace of `master` unless `linkInContainer` is set: the process's own namespace in production.
    let host: HostNamespace

    public init(ipam: PodIPAM = PodIPAM(), host: HostNamespace = .process) {
        self.ipam = ipam
        self.host = host
    }

    /// Creates the macvlan as `request.ifName` in `request.netns` (CNI ADD) and
    /// returns the result with that one interface. On failure it deletes the
    /// macvlan and releases the addresses, and throws a `CNIError`.
    ///
    /// `deadline` is checked before each step and passed to an IPAM plugin run
    /// through the host's CNI executor. A passed deadline fails the attach with
    /// code 11 (try again later) after the rollback.
    ///
    /// NOTE: a single netlink request and native host-local IPAM's `flock`
    /// wait are not interrupted by the deadline.
    public func add(_ request: AttachRequest, deadline: Deadline = .none) throws -> CNIResult {
        let config = try MacvlanConfig(request: request)
        let mac = try config.mac.map { (text) throws(CNIError) in try CNIAddresses.mac(text, field: "mac") }

        let pod = try openNamespace(request.netns)
        // The pod namespace's socket is made on its executor thread, and
        // host-local allocation (file work) runs on a thread of its own, while
        // this thread looks up the master and creates the macvlan.
        let podSocketTask = pod.start { try NetlinkSocket() }
        let allocationTask = config.ipamType == nil ? nil : BackgroundTask { [ipam] in
            try ipam.add(request, deadline: deadline)
        }
        var created = false
        do {
            let masterSocket = config.linkInContainer ? try podSocketTask.wait() : try host.makeSocket()
            let master = try findMaster(config, socket: masterSocket)
            if config.mtu > Int(master.mtu) {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "invalid MTU \(config.mtu), must be [0, master MTU(\(master.mtu))]")
            }

            try deadline.check(before: "creating the macvlan")
            let podSocket = try podSocketTask.wait()
            try createMacvlan(request: request, config: config, mac: mac, master: master, pod: pod,
                              podSocket: podSocket, masterSocket: masterSocket)
            created = true
            let link = try podSocket.link(named: request.ifName)

            var result = CNIResult(cniVersion: config.cniVersion.isEmpty ? CNIVersion.current.description : config.cniVersion)
            result.interfaces = [CNIResult.Interface(name: request.ifName, mac: link.mac?.description, sandbox: request.netns)]

            if let allocationTask {
                let allocation = try allocationTask.wait()
                guard !allocation.ips.isEmpty else {
                    throw CNIError(code: CNIError.internalError, msg: "IPAM plugin returned missing IP config")
                }
                result.ips = allocation.ips.map { ip in
                    var ip = ip
                    ip.interface = 0
                    return ip
                }
                result.routes = allocation.routes
                try deadline.check(before: "configuring the pod interface")
                // Gratuitous ARP on address changes. Releases after 1.1.1 also set
                // ndisc_notify, but the 1.1.1 reference does not, and Hydra matches it.
                try? podSocket.setARPNotify(index: link.index, true)
                try InterfaceConfiguration.configure(link: link, result: result, socket: podSocket, namespace: pod,
                                                     settleTimeout: deadline.secondsLeft(max: 10))
            } else {
                try podSocket.setUp(index: link.index)
            }
            // The reference plugin reports the configuration's dns, not IPAM's.
            result.dns = config.dns
            return result
        } catch {
            // The release must run even after the deadline has passed, so it
            // gets a short deadline of its own.
            if let allocationTask, (try? allocationTask.wait()) != nil {
                try? ipam.del(request, deadline: .after(seconds: 2))
            }
            if created, let podSocket = try? podSocketTask.wait(),
               let link = try? podSocket.linkIfPresent(named: request.ifName) {
                try? podSocket.deleteLink(index: link.index)
            }
            _ = try? podSocketTask.wait()
            throw cniError(error)
        }
    }

    /// Releases the addresses and deletes the macvlan (CNI DEL). Succeeds when
    /// the namespace or the interface is gone, and when repeated. Returns once
    /// the kernel has removed the macvlan from the pod namespace, and the
    /// kernel's own wait for its release finishes on a background thread.
    public func del(_ request: AttachRequest, deadline: Deadline = .none) throws {
        let config = try MacvlanConfig(request: request)

        var deletion: PodInterfaceDeletion?
        if !request.netns.isEmpty {
            let pod: NetworkNamespace?
            do {
                pod = try NetworkNamespace(path: request.netns)
            } catch {
                switch error {
                case .notFound, .notNetworkNamespace: pod = nil
                default: throw CNIError(code: CNIError.invalidNetNS, msg: "failed to open netns \"\(request.netns)\": \(error)")
                }
            }
            if let pod {
                deletion = try PodInterfaceDeletion(ifName: request.ifName, in: pod, host: host, readAddresses: false)
            }
        }

        // Wait for the removal before rethrowing a release error, so that DEL
        // never returns while the interface is still there.
        var releaseError: Error?
        if config.ipamType != nil {
            do {
                try ipam.del(request, deadline: deadline)
            } catch {
                releaseError = error
            }
        }
        try deletion?.wait(deadline: deadline)
        if let releaseError { throw releaseError }
    }

    /// Verifies the attachment against `request.prevResult` (CNI CHECK): the
    /// master exists, the pod interface is a macvlan in the configured mode with
    /// the recorded MAC, and the recorded addresses and routes are present.
    public func check(_ request: AttachRequest, deadline: Deadline = .none) throws {
        let config = try MacvlanConfig(request: request)
        if config.ipamType != nil { try ipam.check(request, deadline: deadline) }
        guard let previous = request.prevResult else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "required prevResult missing")
        }
        let recorded = try CNIResult(json: previous)
        guard let entry = recorded.interfaces.first(where: { $0.name == request.ifName && $0.sandbox == request.netns }) else {
            throw CNIError(code: CNIError.internalError,
                           msg: "sandbox in prevResult doesn't match configured netns: \(request.netns)")
        }

        let pod = try openNamespace(request.netns)
        let podSocket = try pod.run { try NetlinkSocket() }
        _ = try findMaster(config, socket: config.linkInContainer ? podSocket : try host.makeSocket())

        guard let link = try podSocket.linkIfPresent(named: request.ifName) else {
            throw CNIError(code: CNIError.internalError, msg: "container interface \"\(request.ifName)\" in prevResult not found")
        }
        guard link.kind == "macvlan" else {
            throw CNIError(code: CNIError.internalError, msg: "container interface \"\(request.ifName)\" is not of type macvlan")
        }
        guard link.macvlanMode == config.mode.rawValue else {
            throw CNIError(code: CNIError.internalError,
                           msg: "container macvlan mode \(link.macvlanMode ?? "unknown") does not match expected value: \(config.mode.rawValue)")
        }
        if let mac = entry.mac, mac != link.mac?.description {
            throw CNIError(code: CNIError.internalError,
                           msg: "interface \"\(request.ifName)\" MAC \(link.mac?.description ?? "none") doesn't match recorded \(mac)")
        }
        try ResultValidation.validateAddresses(ifName: request.ifName, ips: recorded.ips, socket: podSocket)
        try ResultValidation.validateRoutes(recorded.routes, socket: podSocket)
    }

    private func openNamespace(_ path: String) throws -> NetworkNamespace {
        do {
            return try NetworkNamespace(path: path)
        } catch {
            throw CNIError(code: CNIError.invalidNetNS, msg: "failed to open netns \"\(path)\": \(error)")
        }
    }

    /// Returns the master link: the configured one, or the interface of the
    /// first default route of the socket's namespace, as the reference plugin picks it.
    private func findMaster(_ config: MacvlanConfig, socket: NetlinkSocket) throws -> Link {
        var name = config.master
        if name.isEmpty {
            guard let route = try socket.routes().first(where: { $0.isDefault && $0.linkIndex != 0 }) else {
                throw CNIError(code: CNIError.invalidNetworkConfig, msg: "no default route interface found")
            }
            name = try socket.link(index: route.linkIndex).name
        }
        do {
            return try socket.link(named: name)
        } catch {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "failed to lookup master \"\(name)\": \(error.reason)")
        }
    }

    /// Creates the macvlan directly in the pod namespace under its final name.
    /// Some kernels also check the new name against the creating namespace,
    /// which the reference plugin avoids with a temporary name. On such a
    /// clash this falls back to a random name and renames the link inside the
    /// pod namespace.
    private func createMacvlan(request: AttachRequest, config: MacvlanConfig, mac: MACAddress?, master: Link,
                               pod: NetworkNamespace, podSocket: NetlinkSocket, masterSocket: NetlinkSocket) throws {
        let mtu = config.mtu > 0 ? UInt32(config.mtu) : nil
        let target = config.linkInContainer ? nil : pod.fileDescriptor
        do {
            try masterSocket.addMacvlan(name: request.ifName, parentIndex: master.index, mode: config.mode,
                                        mtu: mtu, mac: mac, namespaceFD: target)
            return
        } catch {
            guard error.isAlreadyExists, try podSocket.linkIfPresent(named: request.ifName) == nil else {
                if error.isAlreadyExists {
                    throw CNIError(code: CNIError.internalError,
                                   msg: "interface \"\(request.ifName)\" already exists in network namespace \"\(request.netns)\"")
                }
                throw CNIError(code: CNIError.internalError, msg: "failed to create macvlan: \(error.reason)")
            }
        }
        let temporaryName = "mv" + String(format: "%08x", UInt32.random(in: 0...UInt32.max))
        try masterSocket.addMacvlan(name: temporaryName, parentIndex: master.index, mode: config.mode,
                                    mtu: mtu, mac: mac, namespaceFD: target)
        let link = try podSocket.link(named: temporaryName)
        do {
            try podSocket.rename(index: link.index, to: request.ifName)
        } catch {
            try? podSocket.deleteLink(index: link.index)
            throw CNIError(code: CNIError.internalError, msg: "failed to rename macvlan to \"\(request.ifName)\": \(error.reason)")
        }
    }
}
