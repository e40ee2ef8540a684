import CNI
import Glibc
import HydraLog
import Netlink
import Netns

/// The `default-route` key of a network selection: moves the pod's default
/// route onto the attached interface.
enum DefaultRoute {
    /// Deletes every default route of each gateway's family in the pod's
    /// main table and adds one through the gateway on `interface`, inside
    /// the namespace at `netnsPath`, on a namespace executor thread. Only
    /// the first gateway of each family is used, because the kernel keeps
    /// one default route per metric. `podLogFields` (see
    /// `AttachmentRequest.podLogFields`) goes on every log line.
    static func replace(gateways: [String], interface: String, netnsPath: String, logger: Logger,
                        podLogFields: [(String, String)] = []) async throws {
        let logger = logger.with(podLogFields)
        var chosen: [Int32: IPAddress] = [:]
        for text in gateways {
            guard let gateway = IPAddress(text) else {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "invalid default-route gateway \"\(text)\": expected an IPv4 or IPv6 address")
            }
            if let first = chosen[gateway.family] {
                logger.warning("ignoring extra default-route gateway of the same family",
                               [("gateway", text), ("used", "\(first)")])
                continue
            }
            chosen[gateway.family] = gateway
        }
        let selected = chosen.values.sorted { $0.family < $1.family }

        let namespace = try NetworkNamespace(path: netnsPath)
        try await namespace.run { () throws -> Void in
            let socket = try NetlinkSocket()
            let link = try socket.link(named: interface)
            for gateway in selected {
                for route in try socket.routes(family: gateway.family) where route.isDefault {
                    try socket.deleteRoute(route)
                }
                try socket.addRoute(Route(destination: IPNetwork.defaultRoute(family: gateway.family),
                                          gateway: gateway, linkIndex: link.index))
            }
        }
        logger.info("replaced the pod's default route", [("netns", netnsPath), ("interface", interface),
                                                         ("gateways", selected.map(\.description).joined(separator: ","))])
    }
}
