import CNetlink
import Glibc

// Bridge port settings that libnl 3.7 cannot send: its bridge link API has
// no setter for port VLANs or VLAN filtering. These requests are built with
// libnl's message API, in the shape iproute2's `bridge` tool sends them.

extension NetlinkSocket {
    /// Sets or clears hairpin mode on a bridge port: RTM_SETLINK, family
    /// AF_BRIDGE, IFLA_PROTINFO (nested) with IFLA_BRPORT_MODE.
    public func setHairpin(portIndex: Int32, _ enabled: Bool) throws(NetlinkError) {
        let message = try RawMessage(type: Int32(RTM_SETLINK), flags: 0)
        try message.appendLinkHeader(family: Int32(AF_BRIDGE), index: portIndex)
        try message.nest(Int32(IFLA_PROTINFO)) { () throws(NetlinkError) in
            try message.putU8(Int32(IFLA_BRPORT_MODE), enabled ? 1 : 0)
        }
        try sendAndWaitForAck(message, "set hairpin mode on", "bridge port with index \(portIndex)")
    }

    /// Adds VLAN `vid` to a bridge port (RTM_SETLINK, AF_BRIDGE, IFLA_AF_SPEC
    /// with IFLA_BRIDGE_VLAN_INFO), as `bridge vlan add dev PORT vid VID [pvid] [untagged] master`.
    public func addBridgeVLAN(portIndex: Int32, vid: UInt16, pvid: Bool, untagged: Bool) throws(NetlinkError) {
        try sendBridgeVLAN(type: Int32(RTM_SETLINK), portIndex: portIndex, vid: vid, pvid: pvid,
                           untagged: untagged, operation: "add VLAN \(vid) to")
    }

    /// Removes VLAN `vid` from a bridge port (RTM_DELLINK with the same attributes).
    public func deleteBridgeVLAN(portIndex: Int32, vid: UInt16) throws(NetlinkError) {
        try sendBridgeVLAN(type: Int32(RTM_DELLINK), portIndex: portIndex, vid: vid, pvid: false,
                           untagged: false, operation: "delete VLAN \(vid) from")
    }

    private func sendBridgeVLAN(type: Int32, portIndex: Int32, vid: UInt16, pvid: Bool, untagged: Bool,
                                operation: String) throws(NetlinkError) {
        var info = bridge_vlan_info()
        info.vid = vid
        if pvid { info.flags |= UInt16(BRIDGE_VLAN_INFO_PVID) }
        if untagged { info.flags |= UInt16(BRIDGE_VLAN_INFO_UNTAGGED) }

        let message = try RawMessage(type: type, flags: 0)
        try message.appendLinkHeader(family: Int32(AF_BRIDGE), index: portIndex)
        try message.nest(Int32(IFLA_AF_SPEC)) { () throws(NetlinkError) in
            // BRIDGE_FLAGS_MASTER sends the request to the port's bridge, not to the port device.
            try message.putU16(Int32(IFLA_BRIDGE_FLAGS), UInt16(BRIDGE_FLAGS_MASTER))
            try message.putStruct(Int32(IFLA_BRIDGE_VLAN_INFO), info)
        }
        try sendAndWaitForAck(message, operation, "bridge port with index \(portIndex)")
    }
}
