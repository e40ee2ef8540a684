import CNI
import Glibc
import Netlink
import NetworkSetup

/// The gateway addresses for the bridge, per family, worked out from an IPAM
/// result the way the reference plugin's `calcGateways` does.
struct BridgeGateways {
    var ipv4: [IPNetwork] = []
    var ipv6: [IPNetwork] = []

    /// Points every address at the pod interface (index 2 of the result) and
    /// fills in a missing gateway with the subnet's first address when the
    /// bridge is a gateway. With `isDefaultGateway` it adds a default route per
    /// family unless IPAM gave one. Returns the gateway addresses with the
    /// prefix length of their pod address.
    static func apply(to result: inout CNIResult, config: BridgeConfig) throws -> BridgeGateways {
        var gateways = BridgeGateways()
        var defaultRouteFound: [Int32: Bool] = [:]
        for position in result.ips.indices {
            let network = try CNIAddresses.network(result.ips[position].address, field: "ips[\(position)].address")
            let family = network.address.family
            result.ips[position].interface = 2

            if result.ips[position].gateway == nil && config.isGateway {
                result.ips[position].gateway = Self.firstAddress(of: network).description
            }

            if config.isDefaultGateway {
                let defaultDestination = IPNetwork.defaultRoute(family: family).description
                if defaultRouteFound[family] != true {
                    defaultRouteFound[family] = result.routes.contains { $0.gw != nil && $0.dst == defaultDestination }
                }
                if defaultRouteFound[family] != true {
                    result.routes.append(CNIResult.Route(dst: defaultDestination, gw: result.ips[position].gateway))
                    defaultRouteFound[family] = true
                }
            }

            if config.isGateway, let gatewayText = result.ips[position].gateway {
                let gateway = try CNIAddresses.address(gatewayText, field: "ips[\(position)].gateway")
                let gatewayNetwork = IPNetwork(address: gateway, prefixLength: network.prefixLength)!
                if family == AF_INET { gateways.ipv4.append(gatewayNetwork) } else { gateways.ipv6.append(gatewayNetwork) }
            }
        }
        return gateways
    }

    /// Returns the address after the network address: 10.1.0.1 for 10.1.0.5/24.
    static func firstAddress(of network: IPNetwork) -> IPAddress {
        var bytes = network.networkAddress.bytes
        for index in bytes.indices.reversed() {
            bytes[index] &+= 1
            if bytes[index] != 0 { break }
        }
        return IPAddress(bytes: bytes)!
    }
}
