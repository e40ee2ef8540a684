import Glibc
import Netlink

/// The node's uplink: the interface that carries VXLAN traffic and the public IP announced in the lease.
struct PublicInterface: Sendable {
    var link: Link
    /// The interface's IPv4 address with its prefix, for DirectRouting's same-subnet test.
    var address: IPNetwork
    var publicIP: IPAddress

    /// Finds the interface named `name` (or, when empty, the one of the IPv4
    /// default route) and its first global IPv4 address, through `socket`.
    /// `publicIP`, when set, overrides the announced address.
    static func resolve(name: String, publicIP: String, socket: NetlinkSocket) throws -> PublicInterface {
        let link: Link
        if !name.isEmpty {
            guard let found = try socket.linkIfPresent(named: name) else {
                throw FlannelError.publicInterface("interface \"\(name)\" not found")
            }
            link = found
        } else {
            guard let route = try socket.routes(family: AF_INET).first(where: { $0.isDefault && $0.linkIndex != 0 }) else {
                throw FlannelError.publicInterface("no IPv4 default route; set \"iface\" in the backend configuration")
            }
            link = try socket.link(index: route.linkIndex)
        }
        guard let address = try socket.addresses(index: link.index, family: AF_INET).first(where: \.isGlobal) else {
            throw FlannelError.publicInterface("interface \"\(link.name)\" has no global IPv4 address")
        }
        var announced = address.network.address
        if !publicIP.isEmpty {
            guard let parsed = IPAddress(publicIP), parsed.isIPv4 else {
                throw FlannelError.publicInterface("\"publicIP\" \"\(publicIP)\" is not an IPv4 address")
            }
            announced = parsed
        }
        return PublicInterface(link: link, address: address.network, publicIP: announced)
    }
}
