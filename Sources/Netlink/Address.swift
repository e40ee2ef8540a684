import CNetlink
import Glibc

/// An address assigned to an interface (RTM_GETADDR).
public struct InterfaceAddress: Sendable, Equatable {
    public var linkIndex: Int32
    public var network: IPNetwork
    /// RT_SCOPE_UNIVERSE (0), RT_SCOPE_LINK (253) or RT_SCOPE_HOST (254).
    public var scope: Int32
    /// IFA_F_* flags, for example IFA_F_TENTATIVE while IPv6 duplicate address detection runs.
    public var flags: UInt32

    /// True for an address of global scope (RT_SCOPE_UNIVERSE), not link-local or host.
    public var isGlobal: Bool { scope == Int32(RT_SCOPE_UNIVERSE.rawValue) }
    /// True while IPv6 duplicate address detection runs (IFA_F_TENTATIVE).
    public var isTentative: Bool { flags & UInt32(IFA_F_TENTATIVE) != 0 }
    /// True when duplicate address detection found the address in use (IFA_F_DADFAILED).
    public var isDuplicate: Bool { flags & UInt32(IFA_F_DADFAILED) != 0 }
}

extension NetlinkSocket {
    /// Adds `network` to the link at `index` (rtnl_addr_add). An IPv4 address
    /// with a prefix shorter than /31 gets the broadcast address of its subnet,
    /// as `ip addr add ... brd +` and the reference CNI plugins set it.
    public func addAddress(_ network: IPNetwork, index: Int32) throws(NetlinkError) {
        try withAddress(network, index: index) { (sock, address) throws(NetlinkError) in
            if network.address.isIPv4 && network.prefixLength < 31,
               let broadcast = network.broadcastAddress.makeNLAddress() {
                defer { nl_addr_put(broadcast) }
                rtnl_addr_set_broadcast(address, broadcast)
            }
            _ = try check(rtnl_addr_add(sock, address, 0), "add address", "\(network) to link with index \(index)")
        }
    }

    /// Removes `network` from the link at `index` (rtnl_addr_delete).
    public func deleteAddress(_ network: IPNetwork, index: Int32) throws(NetlinkError) {
        try withAddress(network, index: index) { (sock, address) throws(NetlinkError) in
            _ = try check(rtnl_addr_delete(sock, address, 0), "delete address", "\(network) from link with index \(index)")
        }
    }

    /// Lists addresses, optionally only those of one link and one family (AF_INET or AF_INET6).
    public func addresses(index: Int32? = nil, family: Int32? = nil) throws(NetlinkError) -> [InterfaceAddress] {
        try withCache("list", "addresses", allocate: { sock, cache in
            rtnl_addr_alloc_cache(sock, cache)
        }) { cache in
            cacheObjects(cache).compactMap { object -> InterfaceAddress? in
                let linkIndex = rtnl_addr_get_ifindex(object)
                if let index, linkIndex != index { return nil }
                if let family, rtnl_addr_get_family(object) != family { return nil }
                let local = rtnl_addr_get_local(object)
                guard let ip = IPAddress(nlAddress: local),
                      let network = IPNetwork(address: ip, prefixLength: Int(rtnl_addr_get_prefixlen(object)))
                else { return nil }
                return InterfaceAddress(linkIndex: linkIndex, network: network,
                                        scope: rtnl_addr_get_scope(object), flags: rtnl_addr_get_flags(object))
            }
        }
    }

    private func withAddress(_ network: IPNetwork, index: Int32,
                             _ body: (OpaquePointer, OpaquePointer) throws(NetlinkError) -> Void) throws(NetlinkError) {
        guard let address = rtnl_addr_alloc(), let local = network.address.makeNLAddress(prefixLength: network.prefixLength) else {
            throw NetlinkError(operation: "allocate", subject: "address \(network)", code: NLE_NOMEM)
        }
        defer {
            rtnl_addr_put(address)
            nl_addr_put(local)
        }
        rtnl_addr_set_ifindex(address, index)
        rtnl_addr_set_family(address, network.address.family)
        try check(rtnl_addr_set_local(address, local), "set local address", network.description)
        rtnl_addr_set_prefixlen(address, Int32(network.prefixLength))
        try withHandle { (sock) throws(NetlinkError) in try body(sock, address) }
    }
}
