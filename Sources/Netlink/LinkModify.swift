import CNetlink
import Glibc

extension NetlinkSocket {
    /// Sets the link administratively up (IFF_UP).
    public func setUp(index: Int32) throws(NetlinkError) {
        try changeLink(index: index, "set up", "link") { rtnl_link_set_flags($0, UInt32(IFF_UP.rawValue)) }
    }

    /// Sets the link administratively down.
    public func setDown(index: Int32) throws(NetlinkError) {
        try changeLink(index: index, "set down", "link") { rtnl_link_unset_flags($0, UInt32(IFF_UP.rawValue)) }
    }

    /// Sets the MTU in bytes.
    public func setMTU(index: Int32, _ mtu: UInt32) throws(NetlinkError) {
        try changeLink(index: index, "set MTU \(mtu) on", "link") { rtnl_link_set_mtu($0, mtu) }
    }

    /// Sets the hardware address.
    public func setMAC(index: Int32, _ mac: MACAddress) throws(NetlinkError) {
        guard let address = mac.makeNLAddress() else {
            throw NetlinkError(operation: "set MAC address", subject: mac.description, code: NLE_NOMEM)
        }
        defer { nl_addr_put(address) }
        try changeLink(index: index, "set MAC address \(mac) on", "link") { rtnl_link_set_addr($0, address) }
    }

    /// Enslaves the link to `masterIndex` (a bridge), or releases it when `masterIndex` is 0.
    public func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        try changeLink(index: index, "set master \(masterIndex) on", "link") { rtnl_link_set_master($0, masterIndex) }
    }

    /// Turns promiscuous mode on or off (IFF_PROMISC, as `ip link set promisc`).
    public func setPromiscuous(index: Int32, _ enabled: Bool) throws(NetlinkError) {
        let flag = UInt32(IFF_PROMISC.rawValue)
        try changeLink(index: index, "set promiscuous mode on", "link") { change in
            if enabled { rtnl_link_set_flags(change, flag) } else { rtnl_link_unset_flags(change, flag) }
        }
    }

    /// Turns the link's IPv4 `arp_notify` setting on or off: with it on, the
    /// kernel sends a gratuitous ARP when the link comes up or changes its
    /// address. Same effect as writing net.ipv4.conf.<link>.arp_notify, but
    /// through this socket, so no thread has to enter the link's namespace
    /// (RTM_SETLINK with IFLA_INET_CONF inside IFLA_AF_SPEC, built with
    /// libnl's message API).
    public func setARPNotify(index: Int32, _ enabled: Bool) throws(NetlinkError) {
        // IPV4_DEVCONF_ARP_NOTIFY in linux/ip.h, which the CNetlink module
        // does not import because it clashes with glibc's netinet/ip.h.
        let arpNotify: Int32 = 22
        let message = try RawMessage(type: Int32(RTM_SETLINK), flags: 0)
        try message.appendLinkHeader(family: AF_UNSPEC, index: index)
        try message.nest(Int32(IFLA_AF_SPEC)) { () throws(NetlinkError) in
            try message.nest(AF_INET) { () throws(NetlinkError) in
                try message.nest(Int32(IFLA_INET_CONF)) { () throws(NetlinkError) in
                    try message.putU32(arpNotify, enabled ? 1 : 0)
                }
            }
        }
        try sendAndWaitForAck(message, "set arp_notify on", "link with index \(index)")
    }

    /// Moves the link into the network namespace open as `namespaceFD` (IFLA_NET_NS_FD).
    /// The link gets a new index there.
    public func moveToNamespace(index: Int32, namespaceFD: Int32) throws(NetlinkError) {
        try changeLink(index: index, "move to namespace", "link") { rtnl_link_set_ns_fd($0, namespaceFD) }
    }

    /// Renames the link. The kernel rejects renaming a link that is up (EBUSY).
    public func rename(index: Int32, to name: String) throws(NetlinkError) {
        try changeLink(index: index, "rename to \"\(name)\"", "link") { rtnl_link_set_name($0, name) }
    }

    /// Deletes the link (rtnl_link_delete). Deleting one end of a veth deletes both.
    public func deleteLink(index: Int32) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "link", code: NLE_NOMEM)
        }
        defer { rtnl_link_put(link) }
        rtnl_link_set_ifindex(link, index)
        try withHandle { (sock) throws(NetlinkError) in
            _ = try check(rtnl_link_delete(sock, link), "delete", "link with index \(index)")
        }
    }

    /// Sends one change request built by `apply` for the link at `index`
    /// (rtnl_link_change, RTM_NEWLINK with a fallback to RTM_SETLINK).
    private func changeLink(index: Int32, _ operation: String, _ noun: String,
                            _ apply: (OpaquePointer) -> Void) throws(NetlinkError) {
        guard let original = rtnl_link_alloc(), let change = rtnl_link_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "link", code: NLE_NOMEM)
        }
        defer {
            rtnl_link_put(original)
            rtnl_link_put(change)
        }
        rtnl_link_set_ifindex(original, index)
        apply(change)
        try withHandle { (sock) throws(NetlinkError) in
            _ = try check(rtnl_link_change(sock, original, change, 0), operation, "\(noun) with index \(index)")
        }
    }
}
