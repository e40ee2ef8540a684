import Glibc
import Netlink
import NetworkSetup

/// The VXLAN device `flannel.<VNI>` and the per-peer kernel state, as
/// flanneld's vxlan backend builds them. The device has learning off and the
/// node's subnet network address as a /32. Each peer gets a permanent
/// neighbour entry, an FDB entry and an on-link route.
final class VxlanDataplane: @unchecked Sendable {
    let socket: NetlinkSocket
    let deviceName: String
    let uplink: PublicInterface
    let directRouting: Bool
    private(set) var deviceIndex: Int32 = 0
    private(set) var vtepMAC: MACAddress

    /// The per-packet VXLAN overhead: outer IPv4 (20), UDP (8), VXLAN (8) and inner Ethernet (14) headers.
    static let encapsulationOverhead: UInt32 = 50

    init(socket: NetlinkSocket, vni: UInt32, uplink: PublicInterface, directRouting: Bool, preferredMAC: MACAddress?) {
        self.socket = socket
        self.deviceName = "flannel.\(vni)"
        self.uplink = uplink
        self.directRouting = directRouting
        self.vtepMAC = preferredMAC ?? MACAddress.random()
    }

    /// The device MTU, also FLANNEL_MTU: the uplink's MTU minus the encapsulation overhead.
    var mtu: UInt32 { uplink.link.mtu - Self.encapsulationOverhead }

    /// Creates `flannel.<VNI>` or keeps an existing VXLAN device of that name,
    /// adopting its MAC so the VtepMAC in etcd stays the same across restarts.
    /// A non-VXLAN link of that name is deleted first.
    ///
    /// NOTE: an existing VXLAN device is kept without comparing its VNI,
    /// port or local address with the configuration; delete it by hand after
    /// changing those.
    func ensureDevice(vni: UInt32, port: UInt16) throws {
        if let existing = try socket.linkIfPresent(named: deviceName) {
            if existing.kind == "vxlan" {
                deviceIndex = existing.index
                if let mac = existing.mac { vtepMAC = mac }
                if existing.mtu != mtu { try socket.setMTU(index: existing.index, mtu) }
                try socket.setUp(index: existing.index)
                return
            }
            try socket.deleteLink(index: existing.index)
        }
        let settings = VxlanSettings(vni: vni, parentIndex: uplink.link.index, localAddress: uplink.address.address,
                                     port: port == 0 ? nil : port, learning: false, mtu: mtu)
        try socket.addVxlan(name: deviceName, settings: settings)
        let link = try socket.link(named: deviceName)
        deviceIndex = link.index
        try socket.setMAC(index: link.index, vtepMAC)
    }

    /// Sets the device's only IPv4 address to `<subnet network address>/32`
    /// and brings it up.
    func configureAddress(subnet: IPNetwork) throws {
        let wanted = IPNetwork(address: subnet.networkAddress, prefixLength: 32)!
        for address in try socket.addresses(index: deviceIndex, family: AF_INET) where address.network != wanted {
            try socket.deleteAddress(address.network, index: deviceIndex)
        }
        if try !socket.addresses(index: deviceIndex, family: AF_INET).contains(where: { $0.network == wanted }) {
            try socket.addAddress(wanted, index: deviceIndex)
        }
        try socket.setUp(index: deviceIndex)
    }

    /// Returns whether `peer` is routed directly through the uplink instead of VXLAN.
    func usesDirectRoute(_ peer: SubnetLease) -> Bool {
        directRouting && uplink.address.contains(peer.publicIP)
    }

    /// Programs a peer: neighbour entry (peer subnet address to VtepMAC), FDB
    /// entry (VtepMAC to public IP), then the on-link route through the
    /// device, in that order so the route never points at an unresolved
    /// next hop. With DirectRouting and a peer on the uplink's subnet, only a
    /// route through the peer's public IP.
    func addPeer(_ peer: SubnetLease) throws {
        if usesDirectRoute(peer) {
            try socket.replaceRoute(Route(destination: peer.subnet.masked, gateway: peer.publicIP,
                                          linkIndex: uplink.link.index))
            return
        }
        guard let mac = peer.vtepMAC else { return }
        let address = peer.subnet.networkAddress
        try socket.addNeighbour(address: address, mac: mac, index: deviceIndex)
        do {
            try socket.addFDBEntry(mac: mac, remote: peer.publicIP, index: deviceIndex)
        } catch {
            // Like flanneld, leave no half-programmed peer behind.
            try? socket.deleteNeighbour(address: address, index: deviceIndex)
            throw error
        }
        do {
            try socket.replaceRoute(vxlanRoute(for: peer.subnet))
        } catch {
            try? socket.deleteNeighbour(address: address, index: deviceIndex)
            try? socket.deleteFDBEntry(mac: mac, remote: peer.publicIP, index: deviceIndex)
            throw error
        }
    }

    /// Removes what `addPeer` programmed, in flanneld's order: neighbour,
    /// FDB entry, route. Entries already gone are not errors.
    func removePeer(_ peer: SubnetLease) throws {
        if usesDirectRoute(peer) {
            try ignoringNotFound {
                try socket.deleteRoute(Route(destination: peer.subnet.masked, gateway: peer.publicIP,
                                             linkIndex: uplink.link.index))
            }
            return
        }
        if let mac = peer.vtepMAC {
            try ignoringNotFound { try socket.deleteNeighbour(address: peer.subnet.networkAddress, index: deviceIndex) }
            try ignoringNotFound { try socket.deleteFDBEntry(mac: mac, remote: peer.publicIP, index: deviceIndex) }
        }
        try ignoringNotFound { try socket.deleteRoute(vxlanRoute(for: peer.subnet)) }
    }

    /// Deletes routes through the device whose destination is not in
    /// `keeping`: peers that left while this node was not watching.
    func pruneRoutes(keeping: Set<IPNetwork>) throws -> [IPNetwork] {
        var removed: [IPNetwork] = []
        for route in try socket.routes(family: AF_INET) where route.linkIndex == deviceIndex {
            guard route.destination.prefixLength < 32, !keeping.contains(route.destination.masked) else { continue }
            try ignoringNotFound { try socket.deleteRoute(route) }
            removed.append(route.destination)
        }
        return removed
    }

    private func vxlanRoute(for subnet: IPNetwork) -> Route {
        Route(destination: subnet.masked, gateway: subnet.networkAddress, linkIndex: deviceIndex, onLink: true)
    }

    private func ignoringNotFound(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as NetlinkError where error.isNotFound {
            return
        }
    }
}
