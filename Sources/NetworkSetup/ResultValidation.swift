import CNI
import Glibc
import Netlink

/// The checks of a CNI CHECK against the kernel, as the reference plugins'
/// `ip.ValidateExpectedInterfaceIPs` and `ip.ValidateExpectedRoute` do them.
/// Call with a socket created in the interface's namespace.
public enum ResultValidation {
    /// Verifies that every address of `ips` is on `ifName` and that a route to
    /// its subnet exists.
    public static func validateAddresses(ifName: String, ips: [CNIResult.IPConfig], socket: NetlinkSocket) throws {
        let link = try socket.link(named: ifName)
        let present = Set(try socket.addresses(index: link.index).map(\.network))
        let routes = try socket.routes()
        for (position, ip) in ips.enumerated() {
            let network = try CNIAddresses.network(ip.address, field: "ips[\(position)].address")
            guard present.contains(network) else {
                throw CNIError(code: CNIError.internalError, msg: "address \(ip.address) not found on interface \"\(ifName)\"")
            }
            guard routes.contains(where: { $0.destination == network.masked }) else {
                throw CNIError(code: CNIError.internalError,
                               msg: "route to \(network.masked) for address \(ip.address) not found")
            }
        }
    }

    /// Verifies that every route of `routes` is in the main table, with its gateway when it has one.
    public static func validateRoutes(_ expected: [CNIResult.Route], socket: NetlinkSocket) throws {
        let routes = try socket.routes()
        for (position, entry) in expected.enumerated() {
            let destination = try CNIAddresses.network(entry.dst, field: "routes[\(position)].dst").masked
            let gateway = try entry.gw.map { (text) throws(CNIError) in try CNIAddresses.address(text, field: "routes[\(position)].gw") }
            let found = routes.contains { route in
                route.destination == destination && (gateway == nil || route.gateway == gateway)
            }
            guard found else {
                let via = entry.gw.map { " via \($0)" } ?? ""
                throw CNIError(code: CNIError.internalError, msg: "expected route \(entry.dst)\(via) not found in the routing table")
            }
        }
    }
}
