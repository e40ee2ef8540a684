import CNetlink
import Glibc

/// A route in a routing table (RTM_GETROUTE), with at most one next hop.
public struct Route: Sendable, Equatable {
    /// The destination; 0.0.0.0/0 or ::/0 for a default route.
    public var destination: IPNetwork
    public var gateway: IPAddress?
    /// The output interface, 0 when the kernel picks it from the gateway.
    public var linkIndex: Int32
    /// RT_TABLE_MAIN (254) unless set.
    public var table: UInt32
    /// RT_SCOPE_UNIVERSE (0) for routes through a gateway, RT_SCOPE_LINK (253) for directly connected networks.
    public var scope: UInt8
    /// RTPROT_BOOT (3) for routes added by configuration tools, RTPROT_KERNEL (2) for routes the kernel adds.
    public var proto: UInt8
    /// The metric; 0 means unset.
    public var priority: UInt32
    /// RTNH_F_ONLINK: the gateway is reachable on the link even outside its subnets.
    public var onLink: Bool

    public init(destination: IPNetwork, gateway: IPAddress? = nil, linkIndex: Int32 = 0,
                table: UInt32 = UInt32(RT_TABLE_MAIN.rawValue), scope: UInt8 = UInt8(RT_SCOPE_UNIVERSE.rawValue),
                proto: UInt8 = UInt8(RTPROT_BOOT), priority: UInt32 = 0, onLink: Bool = false) {
        self.destination = destination
        self.gateway = gateway
        self.linkIndex = linkIndex
        self.table = table
        self.scope = scope
        self.proto = proto
        self.priority = priority
        self.onLink = onLink
    }

    public var isDefault: Bool { destination.prefixLength == 0 }
}

extension NetlinkSocket {
    /// Adds a route (rtnl_route_add with NLM_F_EXCL). Fails with
    /// `isAlreadyExists` when the same route is present. The scope and protocol
    /// are sent as given: libnl would otherwise guess the scope from the gateway
    /// and default the protocol to RTPROT_STATIC.
    public func addRoute(_ route: Route) throws(NetlinkError) {
        try withRoute(route) { (sock, object) throws(NetlinkError) in
            _ = try check(rtnl_route_add(sock, object, NLM_F_EXCL), "add route", describe(route))
        }
    }

    /// Adds a route or replaces the route with the same destination, table and
    /// metric (rtnl_route_add with NLM_F_REPLACE), as `ip route replace` does.
    public func replaceRoute(_ route: Route) throws(NetlinkError) {
        try withRoute(route) { (sock, object) throws(NetlinkError) in
            _ = try check(rtnl_route_add(sock, object, NLM_F_REPLACE), "replace route", describe(route))
        }
    }

    /// Deletes a route (rtnl_route_delete), matching destination, gateway, link and table.
    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        try withRoute(route) { (sock, object) throws(NetlinkError) in
            _ = try check(rtnl_route_delete(sock, object, 0), "delete route", describe(route))
        }
    }

    /// Lists the routes of `family` (AF_INET, AF_INET6, or AF_UNSPEC for both) in table `table`
    /// (RT_TABLE_MAIN by default, nil for every table).
    public func routes(family: Int32 = AF_UNSPEC, table: UInt32? = UInt32(RT_TABLE_MAIN.rawValue)) throws(NetlinkError) -> [Route] {
        try withCache("list", "routes", allocate: { sock, cache in
            rtnl_route_alloc_cache(sock, family, 0, cache)
        }) { cache in
            cacheObjects(cache).compactMap { object -> Route? in
                let routeTable = rtnl_route_get_table(object)
                if let table, routeTable != table { return nil }
                guard rtnl_route_get_type(object) == UInt8(RTN_UNICAST) else { return nil }
                let routeFamily = Int32(rtnl_route_get_family(object))
                let dst = rtnl_route_get_dst(object)
                let prefix = dst.map { Int(nl_addr_get_prefixlen($0)) } ?? 0
                let address = IPAddress(nlAddress: dst) ?? .unspecified(family: routeFamily)
                guard let destination = IPNetwork(address: address, prefixLength: prefix) else { return nil }

                var route = Route(destination: destination, table: routeTable, scope: rtnl_route_get_scope(object),
                                  proto: rtnl_route_get_protocol(object), priority: rtnl_route_get_priority(object))
                if rtnl_route_get_nnexthops(object) > 0, let hop = rtnl_route_nexthop_n(object, 0) {
                    route.linkIndex = rtnl_route_nh_get_ifindex(hop)
                    route.gateway = IPAddress(nlAddress: rtnl_route_nh_get_gateway(hop))
                    route.onLink = rtnl_route_nh_get_flags(hop) & UInt32(RTNH_F_ONLINK) != 0
                }
                return route
            }
        }
    }

    private func describe(_ route: Route) -> String {
        var text = route.destination.description
        if let gateway = route.gateway { text += " via \(gateway)" }
        if route.linkIndex != 0 { text += " dev index \(route.linkIndex)" }
        return text
    }

    private func withRoute(_ route: Route, _ body: (OpaquePointer, OpaquePointer) throws(NetlinkError) -> Void) throws(NetlinkError) {
        guard let object = rtnl_route_alloc(), let hop = rtnl_route_nh_alloc(),
              let dst = route.destination.address.makeNLAddress(prefixLength: route.destination.prefixLength)
        else {
            throw NetlinkError(operation: "allocate", subject: "route \(describe(route))", code: NLE_NOMEM)
        }
        defer {
            // The route owns the next hop once added, and frees it with itself.
            rtnl_route_put(object)
            nl_addr_put(dst)
        }
        rtnl_route_set_family(object, UInt8(route.destination.address.family))
        try check(rtnl_route_set_dst(object, dst), "set destination", describe(route))
        rtnl_route_set_table(object, route.table)
        rtnl_route_set_scope(object, route.scope)
        rtnl_route_set_protocol(object, route.proto)
        rtnl_route_set_type(object, UInt8(RTN_UNICAST))
        if route.priority != 0 { rtnl_route_set_priority(object, route.priority) }

        if route.linkIndex != 0 { rtnl_route_nh_set_ifindex(hop, route.linkIndex) }
        if let gateway = route.gateway, let address = gateway.makeNLAddress() {
            defer { nl_addr_put(address) }
            rtnl_route_nh_set_gateway(hop, address)
        }
        if route.onLink { rtnl_route_nh_set_flags(hop, UInt32(RTNH_F_ONLINK)) }
        rtnl_route_add_nexthop(object, hop)

        try withHandle { (sock) throws(NetlinkError) in try body(sock, object) }
    }
}
