import BackendSDK
import CNI
import NetworkSetup

/// The configuration of a `bridge` network, with the keys and defaults of
/// the reference CNI bridge plugin (containernetworking/plugins 1.1.1).
struct BridgeConfig: Sendable {
    var cniVersion: String
    /// The network name, used in masquerade chain names and rule comments.
    var name: String
    /// The bridge device; "cni0" when not set.
    var bridge: String
    var isGateway: Bool
    var isDefaultGateway: Bool
    var forceAddress: Bool
    var ipMasq: Bool
    /// The MTU of the bridge and veth pair; 0 keeps the kernel's default.
    var mtu: Int
    var hairpinMode: Bool
    var promiscMode: Bool
    /// The VLAN id of the pod's bridge port (access port, untagged); 0 for none.
    var vlan: Int
    var macSpoofCheck: Bool
    /// `enabledad`: keep IPv6 duplicate address detection on the pod interface.
    var enableDAD: Bool
    /// The `ipam.type`, or nil for a layer-2 only network.
    var ipamType: String?
    var dns: CNIResult.DNS?
    /// The MAC address requested for the pod interface.
    var mac: String?

    /// Reads the configuration of `request`. Throws a `CNIError` (code 7,
    /// invalid network config) naming the invalid key.
    init(request: AttachRequest) throws(CNIError) {
        let config = request.config
        let reader = ConfigReader(config: config)
        cniVersion = try reader.string("cniVersion") ?? ""
        name = try reader.string("name") ?? ""
        bridge = try reader.string("bridge") ?? ""
        if bridge.isEmpty { bridge = "cni0" }
        isGateway = try reader.bool("isGateway")
        isDefaultGateway = try reader.bool("isDefaultGateway")
        forceAddress = try reader.bool("forceAddress")
        ipMasq = try reader.bool("ipMasq")
        mtu = try reader.int("mtu")
        hairpinMode = try reader.bool("hairpinMode")
        promiscMode = try reader.bool("promiscMode")
        vlan = try reader.int("vlan")
        macSpoofCheck = try reader.bool("macspoofchk")
        enableDAD = try reader.bool("enabledad")
        let ipamType = config["ipam"]?["type"]?.stringValue ?? ""
        self.ipamType = ipamType.isEmpty ? nil : ipamType
        dns = PluginRequestSupport.dns(of: config)
        mac = PluginRequestSupport.requestedMAC(config: config, runtimeConfig: request.runtimeConfig, args: request.args)

        if bridge.utf8.count > 15 {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid bridge name \"\(bridge)\": longer than 15 bytes")
        }
        if vlan < 0 || vlan > 4094 {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid VLAN ID \(vlan) (must be between 0 and 4094)")
        }
        if mtu < 0 {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid MTU \(mtu): must not be negative")
        }
    }
}
