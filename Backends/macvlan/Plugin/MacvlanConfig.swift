import BackendSDK
import CNI
import Netlink
import NetworkSetup

/// The configuration of a `macvlan` network, with the keys of the reference
/// CNI macvlan plugin (containernetworking/plugins; `linkInContainer` is
/// from releases after 1.1.1).
struct MacvlanConfig: Sendable {
    var cniVersion: String
    var name: String
    /// The parent interface; empty means the interface of the default route.
    var master: String
    var mode: MacvlanMode
    /// The MTU of the macvlan; 0 inherits the master's.
    var mtu: Int
    /// The MAC address requested for the pod interface.
    var mac: String?
    /// Look up `master` inside the pod namespace instead of the host namespace.
    var linkInContainer: Bool
    /// The `ipam.type`, or nil for a layer-2 only network.
    var ipamType: String?
    var dns: CNIResult.DNS

    /// Reads the configuration of `request`; throws a `CNIError` naming an invalid key.
    init(request: AttachRequest) throws(CNIError) {
        let config = request.config
        let reader = ConfigReader(config: config)
        cniVersion = try reader.string("cniVersion") ?? ""
        name = try reader.string("name") ?? ""
        master = try reader.string("master") ?? ""
        let modeText = try reader.string("mode") ?? ""
        switch modeText {
        case "", "bridge": mode = .bridge
        case "private": mode = .private
        case "vepa": mode = .vepa
        case "passthru": mode = .passthru
        default:
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "unknown macvlan mode: \"\(modeText)\"")
        }
        mtu = try reader.int("mtu")
        linkInContainer = try reader.bool("linkInContainer")
        let ipamType = config["ipam"]?["type"]?.stringValue ?? ""
        self.ipamType = ipamType.isEmpty ? nil : ipamType
        dns = PluginRequestSupport.dns(of: config) ?? CNIResult.DNS()

        // Precedence as in the reference plugin: runtimeConfig.mac, then CNI_ARGS MAC, then "mac".
        mac = try reader.string("mac")
        if let fromArgs = request.args["MAC"], !fromArgs.isEmpty { mac = fromArgs }
        if let fromRuntime = request.runtimeConfig["mac"]?.stringValue, !fromRuntime.isEmpty { mac = fromRuntime }
        if mac?.isEmpty == true { mac = nil }

        if mtu < 0 {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid MTU \(mtu): must not be negative")
        }
    }
}
