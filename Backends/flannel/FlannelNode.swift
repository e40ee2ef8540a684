import BackendSDK
import Etcd
import Foundation
import Netlink
import NetworkSetup

/// The flanneld side of the backend for one flannel network: it holds this
/// node's subnet lease in etcd, renews it, programs every peer's lease into
/// the VXLAN device, writes subnet.env and installs the masquerade rules.
///
/// `start()` makes one bounded attempt to take the lease and then runs two
/// background threads: one renews the lease (or keeps trying to take it),
/// one lists and watches the peers. While etcd is unreachable both retry
/// with exponential backoff and nothing already programmed is removed.
/// `shutdown()` stops both threads and leaves the kernel state and the
/// etcd lease in place, so pods keep working across a restart.
public final class FlannelNode: @unchecked Sendable {
    /// The subnet lease this node holds.
    public struct HeldLease: Sendable, Equatable {
        public var config: FlannelNetworkConfig
        public var subnet: IPNetwork
        public var leaseID: Int64
        /// FLANNEL_MTU: the VXLAN device's MTU.
        public var mtu: Int
        public var publicIP: IPAddress
        public var vtepMAC: MACAddress
    }

    public typealias Logger = @Sendable (BackendLogLevel, String) -> Void

    public let options: FlannelOptions
    let host: HostNamespace
    let stateDirectory: String
    let log: Logger
    let registry: LeaseRegistry

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var lease: HeldLease?
    private var lastFailure = "not started"
    private var stopping = false
    private var renewRequested = false
    private var peers: [IPNetwork: SubnetLease] = [:]
    private var dataplane: VxlanDataplane?
    private var runningThreads = 0

    private let watchCancellation = EtcdCancellation()

    /// Creates the node; nothing touches etcd or the kernel until `start()`.
    public init(options: FlannelOptions, host: HostNamespace = .process, stateDirectory: String,
                log: @escaping Logger) throws {
        self.options = options
        self.host = host
        self.stateDirectory = stateDirectory
        self.log = log
        registry = LeaseRegistry(client: try EtcdClient(configuration: options.etcd), prefix: options.etcdPrefix)
    }

    // MARK: - State for attach

    /// The held lease, or nil before the first lease was taken or restored.
    public var currentLease: HeldLease? {
        condition.withLock { lease }
    }

    /// Returns the held lease, or throws `FlannelError.noLease` naming the last failure.
    func requireLease() throws -> HeldLease {
        try condition.withLock {
            guard let lease else { throw FlannelError.noLease(lastFailure) }
            return lease
        }
    }

    /// The subnets of the peers currently programmed, sorted.
    public var programmedPeers: [SubnetLease] {
        condition.withLock { peers.values.sorted { $0.subnet.description < $1.subnet.description } }
    }

    // MARK: - Life cycle

    /// Takes the lease (or restores the persisted one when etcd is
    /// unreachable) and starts the renewal and watch threads. Blocks for at
    /// most the etcd timeouts of one attempt per endpoint.
    public func start() {
        do {
            try acquireAndSetUp()
        } catch {
            record(failure: error, "taking the subnet lease failed")
            restorePersistedLease()
        }
        startThread(name: "hydra-flannel-lease") { [self] in leaseLoop() }
        startThread(name: "hydra-flannel-watch") { [self] in watchLoop() }
    }

    /// Stops the background threads and waits for them. Kernel state,
    /// subnet.env and the etcd lease stay.
    public func shutdown() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
        watchCancellation.cancel()
        condition.lock()
        while runningThreads > 0 { condition.wait() }
        condition.unlock()
    }

    private func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
        condition.withLock { runningThreads += 1 }
        let thread = Thread { [self] in
            body()
            condition.withLock {
                runningThreads -= 1
                condition.broadcast()
            }
        }
        thread.name = name
        thread.start()
    }

    // MARK: - Lease

    /// Reads the network config, creates the VXLAN device, takes the lease
    /// and programs the node side: device address, masquerade, subnet.env.
    private func acquireAndSetUp() throws {
        let config = try registry.readConfig()
        let socket = try host.makeSocket()
        let uplink = try PublicInterface.resolve(name: options.interface, publicIP: options.publicIP, socket: socket)
        let persisted = NodeState.load(from: stateDirectory)
        let dataplane = VxlanDataplane(socket: socket, vni: config.backend.vni, uplink: uplink,
                                       directRouting: config.backend.directRouting,
                                       preferredMAC: persisted.flatMap { MACAddress($0.vtepMAC) })
        try dataplane.ensureDevice(vni: config.backend.vni, port: config.backend.port)

        let (subnet, leaseID) = try registry.acquire(
            config: config, attributes: (uplink.publicIP, dataplane.vtepMAC),
            previousSubnet: SubnetEnv.previousSubnet(at: options.subnetFile), ttl: options.leaseTTLSeconds)
        let held = HeldLease(config: config, subnet: subnet, leaseID: leaseID, mtu: Int(dataplane.mtu),
                             publicIP: uplink.publicIP, vtepMAC: dataplane.vtepMAC)
        try setUpNode(held, dataplane: dataplane)
        log(.info, "acquired flannel subnet \(subnet) for public IP \(uplink.publicIP) (etcd lease \(String(leaseID, radix: 16)), "
            + "VXLAN device \(dataplane.deviceName), MTU \(held.mtu))")
    }

    /// Uses the lease persisted by an earlier run, so attaches work while
    /// etcd is unreachable. Logs and returns when there is none.
    private func restorePersistedLease() {
        guard let state = NodeState.load(from: stateDirectory) else { return }
        do {
            let config = try FlannelNetworkConfig(json: state.networkConfig)
            guard let subnet = IPNetwork(state.subnet), let mac = MACAddress(state.vtepMAC) else {
                throw FlannelError.noLease("persisted state in \(NodeState.path(in: stateDirectory)) is invalid")
            }
            let socket = try host.makeSocket()
            let uplink = try PublicInterface.resolve(name: options.interface, publicIP: options.publicIP, socket: socket)
            let dataplane = VxlanDataplane(socket: socket, vni: config.backend.vni, uplink: uplink,
                                           directRouting: config.backend.directRouting, preferredMAC: mac)
            try dataplane.ensureDevice(vni: config.backend.vni, port: config.backend.port)
            let held = HeldLease(config: config, subnet: subnet, leaseID: state.leaseID, mtu: Int(dataplane.mtu),
                                 publicIP: uplink.publicIP, vtepMAC: dataplane.vtepMAC)
            try setUpNode(held, dataplane: dataplane)
            condition.withLock { renewRequested = true }
            log(.warning, "etcd unreachable: using the persisted flannel subnet \(subnet) until the lease can be renewed")
        } catch {
            record(failure: error, "restoring the persisted subnet lease failed")
        }
    }

    private func setUpNode(_ held: HeldLease, dataplane: VxlanDataplane) throws {
        try dataplane.configureAddress(subnet: held.subnet)
        let masquerade = FlannelMasquerade(host: host, vni: held.config.backend.vni)
        if options.ipMasq { try masquerade.setupMasquerade(network: held.config.network, subnet: held.subnet) }
        if options.forwardRules { try masquerade.setupForwarding(network: held.config.network) }
        try SubnetEnv(network: held.config.network, subnet: held.subnet, mtu: held.mtu, ipMasq: options.ipMasq)
            .write(to: options.subnetFile)
        try NodeState(networkConfig: held.config.rawJSON, subnet: held.subnet.description, leaseID: held.leaseID,
                      vtepMAC: held.vtepMAC.description, publicIP: held.publicIP.description).save(to: stateDirectory)
        condition.withLock {
            lease = held
            self.dataplane = dataplane
            condition.broadcast()
        }
    }

    /// Takes the lease while none is held; renews it `renewMarginSeconds`
    /// before it expires; retakes the same subnet when etcd reports the
    /// lease gone.
    private func leaseLoop() {
        var backoff = Backoff(maximum: options.retryMaxSeconds)
        var nextRenewal = Date().addingTimeInterval(Double(options.leaseTTLSeconds - options.renewMarginSeconds))
        while true {
            let (held, stop, renewNow) = condition.withLock { (lease, stopping, renewRequested) }
            if stop { return }
            guard let held else {
                do {
                    try acquireAndSetUp()
                    backoff.reset()
                    nextRenewal = Date().addingTimeInterval(Double(options.leaseTTLSeconds - options.renewMarginSeconds))
                } catch {
                    record(failure: error, "taking the subnet lease failed, retrying in \(backoff.current) s")
                    if wait(until: Date().addingTimeInterval(backoff.next())) { return }
                }
                continue
            }
            if !renewNow && Date() < nextRenewal {
                if wait(until: nextRenewal, wakeOnRenewal: true) { return }
                continue
            }
            do {
                try renew(held)
                condition.withLock { renewRequested = false }
                backoff.reset()
                nextRenewal = Date().addingTimeInterval(Double(options.leaseTTLSeconds - options.renewMarginSeconds))
            } catch {
                record(failure: error, "renewing subnet lease \(held.subnet) failed, retrying in \(backoff.current) s")
                if wait(until: Date().addingTimeInterval(backoff.next())) { return }
            }
        }
    }

    /// Extends the etcd lease with a keepalive. When etcd reports the lease
    /// expired or the key gone, grants a new lease and writes the subnet key
    /// again, unless another node took the subnet meanwhile.
    private func renew(_ held: HeldLease) throws {
        let key = SubnetLease.key(prefix: options.etcdPrefix, subnet: held.subnet)
        let renewed = try registry.client.keepAlive(leaseID: held.leaseID)
        let stored = try registry.client.range(key).kvs.first
        if renewed.ttl > 0, let stored, stored.lease == held.leaseID {
            log(.debug, "renewed flannel subnet lease \(held.subnet), TTL \(renewed.ttl) s")
            return
        }
        let attributes = (publicIP: held.publicIP, vtepMAC: held.vtepMAC)
        let ours = stored.flatMap { SubnetLease(key: key, value: $0.value, prefix: options.etcdPrefix) }?.publicIP == held.publicIP
        guard stored == nil || ours else {
            throw FlannelError.noLease("subnet \(held.subnet) expired and was leased to another node; "
                                       + "existing pods keep their addresses, restart the node's pods after checking the network")
        }
        guard let newID = try registry.write(subnet: held.subnet, config: held.config, attributes: attributes,
                                             ttl: options.leaseTTLSeconds, expectedVersion: stored?.version ?? 0) else {
            throw FlannelError.noLease("subnet key \(key) changed while it was rewritten")
        }
        if renewed.ttl > 0 { try? registry.client.revokeLease(id: held.leaseID) }
        condition.withLock { lease?.leaseID = newID }
        if let state = NodeState.load(from: stateDirectory) {
            var updated = state
            updated.leaseID = newID
            try? updated.save(to: stateDirectory)
        }
        log(.warning, "flannel subnet key \(key) was deleted or its etcd lease expired; "
            + "wrote it again with etcd lease \(String(newID, radix: 16))")
    }

    // MARK: - Peers

    /// Lists the leases, programs the difference, then watches from the
    /// listing's revision. A compacted watch resyncs at once; a broken
    /// connection resyncs after a backoff.
    private func watchLoop() {
        var backoff = Backoff(maximum: options.retryMaxSeconds)
        var firstSync = true
        while true {
            let (held, stop) = condition.withLock { () -> (HeldLease?, Bool) in
                while lease == nil && !stopping { condition.wait() }
                return (lease, stopping)
            }
            if stop { return }
            guard let held else { continue }
            do {
                let listing = try registry.listLeases()
                if !listing.entries.contains(where: { $0.subnet?.masked == held.subnet.masked }) {
                    log(.warning, "this node's flannel lease \(held.subnet) is missing from etcd; writing it again")
                    requestRenewal()
                }
                resync(listing.entries.compactMap(\.lease), own: held, pruneRoutes: firstSync)
                firstSync = false
                backoff.reset()
                try registry.client.watch(prefix: registry.subnetsPrefix, startRevision: listing.revision + 1,
                                          cancellation: watchCancellation) { [self] events, _ in
                    apply(events, own: held)
                    return true
                }
            } catch EtcdError.cancelled {
                return
            } catch EtcdError.compacted(let revision) {
                log(.info, "flannel lease watch was compacted at revision \(revision); resyncing all leases")
            } catch {
                record(failure: error, "watching flannel leases failed, retrying in \(backoff.current) s")
                if wait(until: Date().addingTimeInterval(backoff.next())) { return }
            }
        }
    }

    /// Programs every lease in `leases` except this node's and removes
    /// programmed peers that are no longer listed.
    func resync(_ leases: [SubnetLease], own: HeldLease, pruneRoutes: Bool) {
        guard let dataplane = condition.withLock({ dataplane }) else { return }
        let expected = Dictionary(leases.filter { isPeer($0, own: own) }.map { ($0.subnet.masked, $0) },
                                uniquingKeysWith: { first, _ in first })
        let current = condition.withLock { peers }
        for (subnet, peer) in current where expected[subnet] != peer {
            removePeer(peer, dataplane: dataplane)
        }
        for (subnet, peer) in expected where current[subnet] != peer {
            addPeer(peer, dataplane: dataplane)
        }
        if pruneRoutes {
            do {
                let keep = Set(expected.keys)
                for stale in try dataplane.pruneRoutes(keeping: keep) {
                    log(.info, "removed stale flannel route to \(stale)")
                }
            } catch {
                log(.warning, "listing routes of \(dataplane.deviceName) failed: \(error)")
            }
        }
    }

    private func apply(_ events: [EtcdEvent], own: HeldLease) {
        guard let dataplane = condition.withLock({ dataplane }) else { return }
        for event in events {
            let name = String(event.kv.key.dropFirst(registry.subnetsPrefix.count))
            guard let subnet = IPNetwork(flannelKeyName: name)?.masked else { continue }
            switch event.kind {
            case .put:
                guard let lease = SubnetLease(key: event.kv.key, value: event.kv.value, prefix: options.etcdPrefix) else {
                    log(.warning, "ignoring invalid flannel lease \(event.kv.key): \(event.kv.stringValue)")
                    continue
                }
                guard isPeer(lease, own: own) else { continue }
                if let old = condition.withLock({ peers[subnet] }) {
                    if old == lease { continue }
                    removePeer(old, dataplane: dataplane)
                }
                addPeer(lease, dataplane: dataplane)
            case .delete:
                if subnet == own.subnet.masked {
                    log(.warning, "this node's flannel lease \(subnet) was deleted from etcd; writing it again")
                    requestRenewal()
                    continue
                }
                if let old = condition.withLock({ peers[subnet] }) {
                    removePeer(old, dataplane: dataplane)
                }
            }
        }
    }

    private func isPeer(_ lease: SubnetLease, own: HeldLease) -> Bool {
        guard lease.subnet.masked != own.subnet.masked else { return false }
        guard lease.backendType == "vxlan", lease.vtepMAC != nil else {
            log(.warning, "skipping flannel lease \(lease.subnet): backend type \"\(lease.backendType)\" is not vxlan")
            return false
        }
        return true
    }

    private func addPeer(_ peer: SubnetLease, dataplane: VxlanDataplane) {
        do {
            try dataplane.addPeer(peer)
            condition.withLock { peers[peer.subnet.masked] = peer }
            log(.debug, "added flannel peer \(peer.subnet) at \(peer.publicIP)")
        } catch {
            log(.error, "programming flannel peer \(peer.subnet) at \(peer.publicIP) failed: \(error)")
        }
    }

    private func removePeer(_ peer: SubnetLease, dataplane: VxlanDataplane) {
        do {
            try dataplane.removePeer(peer)
            log(.debug, "removed flannel peer \(peer.subnet) at \(peer.publicIP)")
        } catch {
            log(.error, "removing flannel peer \(peer.subnet) at \(peer.publicIP) failed: \(error)")
        }
        condition.withLock { _ = peers.removeValue(forKey: peer.subnet.masked) }
    }

    // MARK: - Helpers

    /// Wakes the lease thread to renew, or rewrite, the lease now.
    private func requestRenewal() {
        condition.withLock {
            renewRequested = true
            condition.broadcast()
        }
    }

    private func record(failure error: any Error, _ context: String) {
        condition.withLock { lastFailure = "\(error)" }
        log(.warning, "\(context): \(error)")
    }

    /// Sleeps until `date` or shutdown, and with `wakeOnRenewal` also until
    /// a renewal request. Returns true when shutting down.
    private func wait(until date: Date, wakeOnRenewal: Bool = false) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !stopping && !(wakeOnRenewal && renewRequested) && Date() < date {
            _ = condition.wait(until: date)
        }
        return stopping
    }
}

/// Exponential backoff from 1 s, doubling up to `maximum`.
struct Backoff {
    let maximum: Double
    private(set) var current: Double = 1

    init(maximum: Double) { self.maximum = max(1, maximum) }

    mutating func next() -> Double {
        defer { current = min(maximum, current * 2) }
        return current
    }

    mutating func reset() { current = 1 }
}
