import CNetlink
import Glibc

/// A snapshot of a network interface as the kernel reported it (RTM_GETLINK).
public struct Link: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// The IFLA_INFO_KIND: "veth", "bridge", "macvlan", "vxlan", "dummy"; nil for physical devices.
    public var kind: String?
    public var mtu: UInt32
    public var mac: MACAddress?
    /// The IFF_* flags (IFF_UP, IFF_PROMISC, ...).
    public var flags: UInt32
    /// The index of the master device (the bridge of a bridge port), 0 when none.
    public var masterIndex: Int32
    /// IFLA_LINK: the parent of a macvlan or vlan, or the peer index of a veth.
    /// For a veth whose peer is in another namespace, the index is in that namespace.
    public var parentIndex: Int32
    /// The RFC 2863 operational state (IF_OPER_UP is 6).
    public var operState: UInt8
    /// The macvlan mode for a macvlan link ("bridge", "private", "vepa", "passthru", "source").
    public var macvlanMode: String?

    public var isUp: Bool { flags & UInt32(IFF_UP.rawValue) != 0 }
    public var isPromiscuous: Bool { flags & UInt32(IFF_PROMISC.rawValue) != 0 }
    /// True when the operational state is IF_OPER_UP: the link carries traffic.
    public var isOperationallyUp: Bool { operState == UInt8(IF_OPER_UP) }

    /// Reads the fields of a libnl link object.
    init(_ link: OpaquePointer) {
        index = rtnl_link_get_ifindex(link)
        name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
        kind = rtnl_link_get_type(link).map { String(cString: $0) }
        mtu = rtnl_link_get_mtu(link)
        mac = MACAddress(nlAddress: rtnl_link_get_addr(link))
        flags = rtnl_link_get_flags(link)
        masterIndex = rtnl_link_get_master(link)
        parentIndex = rtnl_link_get_link(link)
        operState = rtnl_link_get_operstate(link)
        if kind == "macvlan" {
            let mode = rtnl_link_macvlan_get_mode(link)
            var buffer = [CChar](repeating: 0, count: 32)
            macvlanMode = rtnl_link_macvlan_mode2str(Int32(mode), &buffer, buffer.count).map { String(cString: $0) }
        }
    }
}

extension NetlinkSocket {
    /// Looks up a link by name (rtnl_link_get_kernel). Throws a `NetlinkError`
    /// whose `isNotFound` is true when no such link exists.
    public func link(named name: String) throws(NetlinkError) -> Link {
        try fetchLink(index: 0, name: name, subject: "\"\(name)\"")
    }

    /// Looks up a link by interface index (rtnl_link_get_kernel).
    public func link(index: Int32) throws(NetlinkError) -> Link {
        try fetchLink(index: index, name: nil, subject: "with index \(index)")
    }

    /// Looks up a link by name and returns nil when it does not exist.
    public func linkIfPresent(named name: String) throws(NetlinkError) -> Link? {
        do {
            return try link(named: name)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Lists every link of the socket's namespace (a cached RTM_GETLINK dump).
    public func links() throws(NetlinkError) -> [Link] {
        try withCache("list", "links", allocate: { sock, cache in
            rtnl_link_alloc_cache(sock, AF_UNSPEC, cache)
        }) { cache in
            cacheObjects(cache).map { Link($0) }
        }
    }

    private func fetchLink(index: Int32, name: String?, subject: String) throws(NetlinkError) -> Link {
        try withHandle { (sock) throws(NetlinkError) in
            var result: OpaquePointer?
            let status = rtnl_link_get_kernel(sock, index, name, &result)
            if status < 0 {
                let notFound = -status == NLE_OBJ_NOTFOUND || -status == NLE_NODEV
                throw NetlinkError(operation: "look up link", subject: subject, code: status,
                                   reason: notFound ? "no such device" : nil)
            }
            guard let result else {
                throw NetlinkError(operation: "look up link", subject: subject, code: NLE_OBJ_NOTFOUND,
                                   reason: "no such device")
            }
            defer { rtnl_link_put(result) }
            return Link(result)
        }
    }
}
