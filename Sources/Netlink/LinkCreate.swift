import CNetlink
import Glibc

/// The macvlan modes of the kernel (IFLA_MACVLAN_MODE).
public enum MacvlanMode: String, Sendable, CaseIterable {
    case `private`, vepa, bridge, passthru, source

    /// The MACVLAN_MODE_* value.
    var kernelValue: UInt32 {
        switch self {
        case .private: return MACVLAN_MODE_PRIVATE.rawValue
        case .vepa: return MACVLAN_MODE_VEPA.rawValue
        case .bridge: return MACVLAN_MODE_BRIDGE.rawValue
        case .passthru: return MACVLAN_MODE_PASSTHRU.rawValue
        case .source: return MACVLAN_MODE_SOURCE.rawValue
        }
    }
}

/// Settings of a VXLAN device.
public struct VxlanSettings: Sendable {
    public var vni: UInt32
    /// The parent device whose address carries the encapsulated traffic, 0 for none.
    public var parentIndex: Int32
    public var localAddress: IPAddress?
    /// The UDP destination port; the kernel's default is 8472 (Linux's
    /// historic port) when nil, while IANA's port is 4789.
    public var port: UInt16?
    /// Whether the device learns remote MAC addresses from received traffic.
    public var learning: Bool
    public var mtu: UInt32?

    public init(vni: UInt32, parentIndex: Int32 = 0, localAddress: IPAddress? = nil,
                port: UInt16? = nil, learning: Bool = false, mtu: UInt32? = nil) {
        self.vni = vni
        self.parentIndex = parentIndex
        self.localAddress = localAddress
        self.port = port
        self.learning = learning
        self.mtu = mtu
    }
}

extension NetlinkSocket {
    /// Creates a veth pair: `name` in the socket's namespace and `peerName`
    /// directly in the namespace open as `peerNamespaceFD` (IFLA_NET_NS_FD on
    /// the peer), so no half-moved pair is ever visible. Pass nil to keep the
    /// peer in the socket's namespace. Fails with `isAlreadyExists` when either
    /// name is taken (rtnl_link_veth_alloc, rtnl_link_add NLM_F_EXCL).
    ///
    /// `masterIndex` makes `name` a port of that bridge and `up` sets it up,
    /// both within the same request (IFLA_MASTER and IFF_UP in RTM_NEWLINK):
    /// the kernel then fails the whole creation if either step fails. The
    /// peer is always created down.
    public func addVethPair(name: String, peerName: String, peerNamespaceFD: Int32?,
                            mtu: UInt32? = nil, mac: MACAddress? = nil, peerMAC: MACAddress? = nil,
                            masterIndex: Int32? = nil, up: Bool = false) throws(NetlinkError) {
        guard let link = rtnl_link_veth_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "veth \"\(name)\"", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(link) }
        guard let peer = rtnl_link_veth_get_peer(link) else {
            throw NetlinkError(operation: "allocate", subject: "veth peer \"\(peerName)\"", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(peer) }

        rtnl_link_set_name(link, name)
        rtnl_link_set_name(peer, peerName)
        if let mtu {
            rtnl_link_set_mtu(link, mtu)
            rtnl_link_set_mtu(peer, mtu)
        }
        try setAddress(mac, on: link)
        try setAddress(peerMAC, on: peer)
        if let peerNamespaceFD { rtnl_link_set_ns_fd(peer, peerNamespaceFD) }
        if let masterIndex { rtnl_link_set_master(link, masterIndex) }
        if up { rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue)) }

        try addLink(link, subject: "veth pair \"\(name)\"/\"\(peerName)\"")
    }

    /// Creates a bridge. With `vlanFiltering`, IFLA_BR_VLAN_FILTERING is set
    /// at creation; libnl 3.7 has no setter for it, so the request is built
    /// with libnl's message API (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).
    public func addBridge(name: String, mtu: UInt32? = nil, vlanFiltering: Bool = false) throws(NetlinkError) {
        let message = try RawMessage(type: Int32(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL)
        try message.appendLinkHeader(family: AF_UNSPEC, index: 0)
        try message.putString(Int32(IFLA_IFNAME), name)
        if let mtu { try message.putU32(Int32(IFLA_MTU), mtu) }
        try message.nest(Int32(IFLA_LINKINFO)) { () throws(NetlinkError) in
            try message.putString(Int32(IFLA_INFO_KIND), "bridge")
            if vlanFiltering {
                try message.nest(Int32(IFLA_INFO_DATA)) { () throws(NetlinkError) in
                    try message.putU8(Int32(IFLA_BR_VLAN_FILTERING), 1)
                }
            }
        }
        try sendAndWaitForAck(message, "add", "bridge \"\(name)\"")
    }

    /// Creates a macvlan on the parent `parentIndex` of the socket's namespace.
    /// With `namespaceFD` the new link appears directly in that namespace under
    /// `name`, which fails with `isAlreadyExists` when the name is taken there
    /// (rtnl_link_macvlan_alloc, rtnl_link_add NLM_F_EXCL).
    public func addMacvlan(name: String, parentIndex: Int32, mode: MacvlanMode,
                           mtu: UInt32? = nil, mac: MACAddress? = nil, namespaceFD: Int32? = nil) throws(NetlinkError) {
        guard let link = rtnl_link_macvlan_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "macvlan \"\(name)\"", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        rtnl_link_set_link(link, parentIndex)
        try check(rtnl_link_macvlan_set_mode(link, mode.kernelValue), "set mode of", "macvlan \"\(name)\"")
        if let mtu { rtnl_link_set_mtu(link, mtu) }
        try setAddress(mac, on: link)
        if let namespaceFD { rtnl_link_set_ns_fd(link, namespaceFD) }
        try addLink(link, subject: "macvlan \"\(name)\"")
    }

    /// Creates a VXLAN device (rtnl_link_vxlan_alloc, rtnl_link_add NLM_F_EXCL).
    public func addVxlan(name: String, settings: VxlanSettings) throws(NetlinkError) {
        guard let link = rtnl_link_vxlan_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "vxlan \"\(name)\"", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(link) }
        let subject = "vxlan \"\(name)\""
        rtnl_link_set_name(link, name)
        try check(rtnl_link_vxlan_set_id(link, settings.vni), "set VNI of", subject)
        if settings.parentIndex != 0 {
            try check(rtnl_link_vxlan_set_link(link, UInt32(settings.parentIndex)), "set parent of", subject)
        }
        if let local = settings.localAddress, let address = local.makeNLAddress() {
            defer { nl_addr_put(address) }
            try check(rtnl_link_vxlan_set_local(link, address), "set local address of", subject)
        }
        if let port = settings.port {
            try check(rtnl_link_vxlan_set_port(link, UInt32(port)), "set port of", subject)
        }
        try check(rtnl_link_vxlan_set_learning(link, settings.learning ? 1 : 0), "set learning of", subject)
        if let mtu = settings.mtu { rtnl_link_set_mtu(link, mtu) }
        try addLink(link, subject: subject)
    }

    /// Creates a dummy device. Needs a kernel with CONFIG_DUMMY; without it
    /// the kernel returns "operation not supported".
    public func addDummy(name: String, namespaceFD: Int32? = nil) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "dummy \"\(name)\"", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check(rtnl_link_set_type(link, "dummy"), "set type of", "dummy \"\(name)\"")
        if let namespaceFD { rtnl_link_set_ns_fd(link, namespaceFD) }
        try addLink(link, subject: "dummy \"\(name)\"")
    }

    private func setAddress(_ mac: MACAddress?, on link: OpaquePointer) throws(NetlinkError) {
        guard let mac else { return }
        guard let address = mac.makeNLAddress() else {
            throw NetlinkError(operation: "set MAC address", subject: mac.description, code: NLE_NOMEM)
        }
        defer { nl_addr_put(address) }
        rtnl_link_set_addr(link, address)
    }

    private func addLink(_ link: OpaquePointer, subject: String) throws(NetlinkError) {
        try withHandle { (sock) throws(NetlinkError) in
            _ = try check(rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL), "add", subject)
        }
    }
}
