import CNetlink
import Glibc

extension NetlinkSocket {
    /// Adds or replaces a permanent neighbour entry mapping `address` to `mac`
    /// on the link at `index` (rtnl_neigh_add, NUD_PERMANENT, NLM_F_REPLACE).
    public func addNeighbour(address: IPAddress, mac: MACAddress, index: Int32) throws(NetlinkError) {
        try withNeighbour(family: address.family, destination: address, mac: mac, index: index) { (sock, neigh) throws(NetlinkError) in
            _ = try check(rtnl_neigh_add(sock, neigh, NLM_F_CREATE | NLM_F_REPLACE),
                          "add neighbour", "\(address) lladdr \(mac) on link with index \(index)")
        }
    }

    /// Deletes the neighbour entry for `address` on the link at `index` (rtnl_neigh_delete).
    public func deleteNeighbour(address: IPAddress, index: Int32) throws(NetlinkError) {
        try withNeighbour(family: address.family, destination: address, mac: nil, index: index) { (sock, neigh) throws(NetlinkError) in
            _ = try check(rtnl_neigh_delete(sock, neigh, 0), "delete neighbour", "\(address) on link with index \(index)")
        }
    }

    /// Adds or replaces a forwarding database entry on a VXLAN device: frames
    /// for `mac` go to the remote VTEP `remote` (family AF_BRIDGE, NTF_SELF,
    /// as `bridge fdb replace MAC dev VXLAN dst REMOTE self permanent`).
    public func addFDBEntry(mac: MACAddress, remote: IPAddress, index: Int32) throws(NetlinkError) {
        try withNeighbour(family: Int32(AF_BRIDGE), destination: remote, mac: mac, index: index) { (sock, neigh) throws(NetlinkError) in
            rtnl_neigh_set_flags(neigh, UInt32(NTF_SELF))
            _ = try check(rtnl_neigh_add(sock, neigh, NLM_F_CREATE | NLM_F_REPLACE),
                          "add FDB entry", "\(mac) dst \(remote) on link with index \(index)")
        }
    }

    /// Deletes the forwarding database entry for `mac` and `remote` on a VXLAN device.
    public func deleteFDBEntry(mac: MACAddress, remote: IPAddress, index: Int32) throws(NetlinkError) {
        try withNeighbour(family: Int32(AF_BRIDGE), destination: remote, mac: mac, index: index) { (sock, neigh) throws(NetlinkError) in
            rtnl_neigh_set_flags(neigh, UInt32(NTF_SELF))
            _ = try check(rtnl_neigh_delete(sock, neigh, 0), "delete FDB entry", "\(mac) dst \(remote) on link with index \(index)")
        }
    }

    private func withNeighbour(family: Int32, destination: IPAddress, mac: MACAddress?, index: Int32,
                               _ body: (OpaquePointer, OpaquePointer) throws(NetlinkError) -> Void) throws(NetlinkError) {
        guard let neigh = rtnl_neigh_alloc(), let dst = destination.makeNLAddress() else {
            throw NetlinkError(operation: "allocate", subject: "neighbour \(destination)", code: NLE_NOMEM)
        }
        defer {
            rtnl_neigh_put(neigh)
            nl_addr_put(dst)
        }
        rtnl_neigh_set_ifindex(neigh, index)
        // libnl rejects a destination whose family differs from one already
        // set, and an FDB entry (AF_BRIDGE) carries an IP destination, so the
        // destination goes first.
        try check(rtnl_neigh_set_dst(neigh, dst), "set destination of neighbour", destination.description)
        rtnl_neigh_set_family(neigh, family)
        rtnl_neigh_set_state(neigh, Int32(NUD_PERMANENT))
        if let mac, let lladdr = mac.makeNLAddress() {
            defer { nl_addr_put(lladdr) }
            rtnl_neigh_set_lladdr(neigh, lladdr)
        }
        try withHandle { (sock) throws(NetlinkError) in try body(sock, neigh) }
    }
}
