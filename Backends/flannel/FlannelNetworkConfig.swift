import Foundation
import Netlink

/// The network configuration flanneld reads from `<prefix>/config`, with the
/// defaults of flannel's `CheckNetworkConfig` (flannel-io/flannel
/// `pkg/subnet/config.go`). `SubnetLen` is 24 for a /22 or larger network
/// and a quarter of the network otherwise. `SubnetMin` is the second subnet
/// of the network and `SubnetMax` the last one.
public struct FlannelNetworkConfig: Sendable, Equatable {
    public var network: IPNetwork
    public var subnetLength: Int
    /// First and last subnet network addresses that may be leased.
    public var subnetMin: IPAddress
    public var subnetMax: IPAddress
    public var backend: VxlanBackendConfig
    /// The JSON text as read from etcd.
    public var rawJSON: String

    /// The `Backend` object of a `vxlan` network.
    public struct VxlanBackendConfig: Sendable, Equatable {
        /// VXLAN network identifier; flannel's default is 1.
        public var vni: UInt32
        /// UDP destination port; 0 keeps the kernel's default, 8472.
        public var port: UInt16
        /// Route directly through the peer's public IP when it is on the same
        /// subnet as this node's public interface, without encapsulation.
        public var directRouting: Bool
    }

    /// Parses and validates the JSON text of `<prefix>/config`. Throws
    /// `FlannelError.invalidNetworkConfig` naming the invalid field, and for
    /// backend types other than `vxlan`, including the default `udp`.
    public init(json text: String) throws {
        rawJSON = text
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FlannelError.invalidNetworkConfig("not a JSON object: \(text)")
        }
        guard let networkText = object["Network"] as? String, let parsed = IPNetwork(networkText), parsed.address.isIPv4 else {
            throw FlannelError.invalidNetworkConfig("\"Network\" must be an IPv4 CIDR, got \(object["Network"] ?? "nothing")")
        }
        network = parsed.masked
        guard network.prefixLength <= 28 else {
            throw FlannelError.invalidNetworkConfig("Network \(network) is too small: the minimum useful prefix is /28")
        }

        // The first subnet is never leased, so the network must hold at least four.

        let configuredLength = (object["SubnetLen"] as? NSNumber)?.intValue ?? 0
        if configuredLength > 0 {
            guard configuredLength <= 30 else {
                throw FlannelError.invalidNetworkConfig("SubnetLen \(configuredLength) is too large: the maximum is 30")
            }
            guard configuredLength >= network.prefixLength + 2 else {
                throw FlannelError.invalidNetworkConfig(
                    "SubnetLen \(configuredLength) is too short: Network \(network) must hold at least four subnets")
            }
            subnetLength = configuredLength
        } else {
            subnetLength = network.prefixLength <= 22 ? 24 : network.prefixLength + 2
        }

        let subnetSize = UInt32(IPv4Math.size(prefixLength: subnetLength))
        let networkStart = IPv4Math.value(network.networkAddress)!
        let networkEnd = UInt32(UInt64(networkStart) + IPv4Math.size(prefixLength: network.prefixLength) - 1)
        subnetMin = try Self.bound(object["SubnetMin"], name: "SubnetMin", network: network, subnetSize: subnetSize)
            ?? IPv4Math.address(networkStart + subnetSize)
        subnetMax = try Self.bound(object["SubnetMax"], name: "SubnetMax", network: network, subnetSize: subnetSize)
            ?? IPv4Math.address(networkEnd - subnetSize + 1)
        guard IPv4Math.value(subnetMin)! <= IPv4Math.value(subnetMax)! else {
            throw FlannelError.invalidNetworkConfig("SubnetMin \(subnetMin) is after SubnetMax \(subnetMax)")
        }

        let backendObject = object["Backend"] as? [String: Any] ?? [:]
        let type = (backendObject["Type"] as? String).map { $0.isEmpty ? "udp" : $0 } ?? "udp"
        guard type == "vxlan" else {
            throw FlannelError.invalidNetworkConfig(
                "backend type \"\(type)\" is not supported: Hydra's flannel backend implements only \"vxlan\"; "
                    + "set \"Backend\": {\"Type\": \"vxlan\"} in the network config (a missing Type means \"udp\")")
        }
        let vni = (backendObject["VNI"] as? NSNumber)?.intValue ?? 1
        guard vni >= 0 && vni <= 0xFF_FFFF else {
            throw FlannelError.invalidNetworkConfig("Backend.VNI \(vni) is out of range 0 to 16777215")
        }
        let port = (backendObject["Port"] as? NSNumber)?.intValue ?? 0
        guard port >= 0 && port <= 65535 else {
            throw FlannelError.invalidNetworkConfig("Backend.Port \(port) is out of range 0 to 65535")
        }
        backend = VxlanBackendConfig(vni: UInt32(vni == 0 ? 1 : vni), port: UInt16(port),
                                     directRouting: (backendObject["DirectRouting"] as? Bool) ?? false)
    }

    /// The size of one subnet in addresses.
    var subnetSize: UInt32 { UInt32(IPv4Math.size(prefixLength: subnetLength)) }

    /// Returns whether `subnet` is a valid lease of this network: the right
    /// length, aligned, and between `SubnetMin` and `SubnetMax`.
    public func accepts(_ subnet: IPNetwork) -> Bool {
        guard subnet.prefixLength == subnetLength, let start = IPv4Math.value(subnet.address),
              subnet.address == subnet.networkAddress else { return false }
        return start >= IPv4Math.value(subnetMin)! && start <= IPv4Math.value(subnetMax)!
    }

    /// Returns every subnet between `SubnetMin` and `SubnetMax`, in address order.
    func candidateSubnets() -> [IPNetwork] {
        var subnets: [IPNetwork] = []
        var next = UInt64(IPv4Math.value(subnetMin)!)
        let last = UInt64(IPv4Math.value(subnetMax)!)
        while next <= last {
            subnets.append(IPNetwork(address: IPv4Math.address(UInt32(next)), prefixLength: subnetLength)!)
            next += UInt64(subnetSize)
        }
        return subnets
    }

    private static func bound(_ value: Any?, name: String, network: IPNetwork, subnetSize: UInt32) throws -> IPAddress? {
        guard let value else { return nil }
        guard let text = value as? String, let address = IPAddress(text), address.isIPv4 else {
            throw FlannelError.invalidNetworkConfig("\(name) must be an IPv4 address, got \(value)")
        }
        guard network.contains(address) else {
            throw FlannelError.invalidNetworkConfig("\(name) \(address) is not inside Network \(network)")
        }
        guard IPv4Math.value(address)! % subnetSize == 0 else {
            throw FlannelError.invalidNetworkConfig("\(name) \(address) is not on a subnet boundary")
        }
        return address
    }
}
