import Foundation
import Netlink

/// A subnet lease as flanneld stores it: the key `<prefix>/subnets/<a.b.c.d>-<len>`
/// and the value `LeaseAttrs` in compact JSON, attached to an etcd lease.
public struct SubnetLease: Sendable, Equatable {
    public var subnet: IPNetwork
    public var publicIP: IPAddress
    public var backendType: String
    /// The VXLAN network identifier from `BackendData.VNI`.
    public var vni: UInt32
    /// The peer's VTEP MAC from `BackendData.VtepMAC`; nil for other backend types.
    public var vtepMAC: MACAddress?

    public init(subnet: IPNetwork, publicIP: IPAddress, vni: UInt32, vtepMAC: MACAddress?, backendType: String = "vxlan") {
        self.subnet = subnet
        self.publicIP = publicIP
        self.backendType = backendType
        self.vni = vni
        self.vtepMAC = vtepMAC
    }

    /// Returns the etcd key of `subnet` under `prefix`.
    public static func key(prefix: String, subnet: IPNetwork) -> String {
        "\(prefix)/subnets/\(subnet.flannelKeyName)"
    }

    /// The value in the byte-exact form flanneld writes (Go's encoding/json of
    /// `LeaseAttrs` with vxlan `BackendData`, fields in declaration order):
    /// `{"PublicIP":"192.0.2.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}`.
    public var jsonValue: String {
        let mac = vtepMAC.map { "\"\($0)\"" } ?? "null"
        return "{\"PublicIP\":\"\(publicIP)\",\"PublicIPv6\":null,\"BackendType\":\"\(backendType)\","
            + "\"BackendData\":{\"VNI\":\(vni),\"VtepMAC\":\(mac)}}"
    }

    /// Decodes a lease from its key and value. Returns nil for keys outside
    /// `<prefix>/subnets/` and values that are not a lease with an IPv4 `PublicIP`.
    public init?(key: String, value: Data, prefix: String) {
        let subnetsPrefix = prefix + "/subnets/"
        guard key.hasPrefix(subnetsPrefix),
              let subnet = IPNetwork(flannelKeyName: String(key.dropFirst(subnetsPrefix.count))),
              let object = try? JSONSerialization.jsonObject(with: value) as? [String: Any],
              let publicText = object["PublicIP"] as? String, let publicIP = IPAddress(publicText), publicIP.isIPv4
        else { return nil }
        let data = object["BackendData"] as? [String: Any] ?? [:]
        self.init(subnet: subnet, publicIP: publicIP,
                  vni: (data["VNI"] as? NSNumber)?.uint32Value ?? 0,
                  vtepMAC: (data["VtepMAC"] as? String).flatMap(MACAddress.init),
                  backendType: object["BackendType"] as? String ?? "")
    }
}
