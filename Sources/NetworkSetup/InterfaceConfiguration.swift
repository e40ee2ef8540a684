import CNI
import Foundation
import Glibc
import Netlink
import Netns

/// Applies the addresses and routes of a CNI result to an interface, the way
/// the reference plugins' `ipam.ConfigureIface` (containernetworking/plugins
/// 1.1.1) does. It enables IPv6 on the link and on `lo` when an IPv6 address
/// follows, adds every address whose `interface` index names the link, and
/// sets the link up. After IPv6 duplicate address detection settles, it adds
/// each route, using the first gateway of the route's family when the route
/// has none.
public enum InterfaceConfiguration {
    /// Configures `ifName` from `result` through `socket`. Call it inside the
    /// interface's namespace (the IPv6 sysctls are per namespace), with a socket
    /// created there.
    public static func configure(ifName: String, result: CNIResult, socket: NetlinkSocket,
                                 settleTimeout: Double = 10) throws {
        guard !result.interfaces.isEmpty else {
            throw CNIError(code: CNIError.internalError, msg: "failed to configure \"\(ifName)\": the result has no interfaces")
        }
        try configure(link: try socket.link(named: ifName), result: result, socket: socket,
                      namespace: nil, settleTimeout: settleTimeout)
    }

    /// Configures `link`, which the caller has just looked up, from `result`
    /// through `socket`, saving the lookup by name. Same rules as
    /// `configure(ifName:result:socket:settleTimeout:)`, but callable from
    /// any thread: `namespace` is the link's namespace, entered only for the
    /// IPv6 sysctls. Pass nil when the calling thread is already inside it.
    public static func configure(link: Link, result: CNIResult, socket: NetlinkSocket,
                                 namespace: NetworkNamespace? = nil, settleTimeout: Double = 10) throws {
        let ifName = link.name
        guard !result.interfaces.isEmpty else {
            throw CNIError(code: CNIError.internalError, msg: "failed to configure \"\(ifName)\": the result has no interfaces")
        }

        var gatewayV4: IPAddress?
        var gatewayV6: IPAddress?
        var enabledIPv6 = false
        for (position, ip) in result.ips.enumerated() {
            guard let interfaceIndex = ip.interface else { continue }
            guard interfaceIndex >= 0, interfaceIndex < result.interfaces.count,
                  result.interfaces[interfaceIndex].name == ifName
            else {
                throw CNIError(code: CNIError.internalError,
                               msg: "failed to add IP address \(ip.address) to \"\(ifName)\": invalid interface index \(interfaceIndex)")
            }
            let network = try CNIAddresses.network(ip.address, field: "ips[\(position)].address")
            if !network.address.isIPv4 && !enabledIPv6 {
                let enable = {
                    for name in ["lo", ifName] where Sysctl.read("net/ipv6/conf/\(name)/disable_ipv6") == "1" {
                        try? Sysctl.write("net/ipv6/conf/\(name)/disable_ipv6", "0")
                    }
                }
                if let namespace { try namespace.run(enable) } else { enable() }
                enabledIPv6 = true
            }
            do {
                try socket.addAddress(network, index: link.index)
            } catch {
                throw CNIError(code: CNIError.internalError,
                               msg: "failed to add IP address \(ip.address) to \"\(ifName)\": \(error.reason)")
            }
            if let gatewayText = ip.gateway {
                let gateway = try CNIAddresses.address(gatewayText, field: "ips[\(position)].gateway")
                if gateway.isIPv4 {
                    if gatewayV4 == nil { gatewayV4 = gateway }
                } else if gatewayV6 == nil {
                    gatewayV6 = gateway
                }
            }
        }
        try socket.setUp(index: link.index)

        if enabledIPv6 {
            try settleAddresses(ifName: ifName, index: link.index, socket: socket, timeout: settleTimeout)
        }

        for (position, entry) in result.routes.enumerated() {
            let destination = try CNIAddresses.network(entry.dst, field: "routes[\(position)].dst").masked
            var gateway = try entry.gw.map { (text) throws(CNIError) in try CNIAddresses.address(text, field: "routes[\(position)].gw") }
            if gateway == nil { gateway = destination.address.isIPv4 ? gatewayV4 : gatewayV6 }
            let route = Route(destination: destination, gateway: gateway, linkIndex: link.index)
            do {
                try socket.addRoute(route)
            } catch {
                let via = gateway.map { " via \($0)" } ?? ""
                throw CNIError(code: CNIError.internalError,
                               msg: "failed to add route \(destination)\(via) on \"\(ifName)\": \(error.reason)")
            }
        }
    }

    /// Waits until no address of the link is IPv6-tentative (duplicate address
    /// detection running), polling every 10 ms, as `ip.SettleAddresses` does.
    static func settleAddresses(ifName: String, index: Int32, socket: NetlinkSocket, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let addresses = try socket.addresses(index: index, family: AF_INET6)
            let tentative = addresses.filter(\.isTentative)
            if tentative.isEmpty { return }
            if let failed = tentative.first(where: \.isDuplicate) {
                throw CNIError(code: CNIError.internalError,
                               msg: "duplicate address detection failed for \(failed.network) on \"\(ifName)\"")
            }
            if Date() > deadline {
                throw CNIError(code: CNIError.internalError,
                               msg: "timed out after \(timeout) s waiting for IPv6 addresses of \"\(ifName)\" to leave the tentative state")
            }
            usleep(10_000)
        }
    }
}
