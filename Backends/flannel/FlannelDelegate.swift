import CNI
import Foundation
import Netlink

/// Builds the bridge configuration that the flannel CNI plugin
/// (containernetworking/plugins `flannel`, `doCmdAdd`) would delegate to,
/// from the network's configuration and the held lease:
///
/// - the `delegate` object of a `{"type":"flannel","delegate":{…}}` config
///   (or an empty one), with `name` and `cniVersion` from the outer config;
/// - `type` "bridge" unless set, and only "bridge" is accepted;
/// - `ipMasq` the opposite of the node's `ipMasq` unless set, `mtu` the
///   flannel MTU unless set, `isGateway` true unless set;
/// - `bridge` the backend's bridge unless set;
/// - `ipam` the outer config's `ipam` (or an empty one), `type` host-local
///   unless set, `ranges` the node's subnet, `routes` its routes plus one
///   to the whole flannel Network, and `dataDir` Hydra's own directory
///   unless set.
enum FlannelDelegate {
    static func build(config: JSONValue, lease: FlannelNode.HeldLease, options: FlannelOptions,
                      ipamDataDir: String) throws -> JSONValue {
        var delegate: JSONValue
        switch config["delegate"] {
        case nil, .null?: delegate = .object([:])
        case .object(let members)?: delegate = .object(members)
        default: throw CNIError(code: CNIError.invalidNetworkConfig, msg: "flannel config: \"delegate\" must be an object")
        }

        delegate["name"] = config["name"] ?? .string("")
        if delegate["type"] == nil { delegate["type"] = .string("bridge") }
        guard delegate["type"]?.stringValue == "bridge" else {
            throw CNIError(code: CNIError.invalidNetworkConfig,
                           msg: "flannel config: delegate type \"\(delegate["type"]?.description ?? "")\" is not supported; "
                                + "Hydra's flannel backend delegates only to \"bridge\"")
        }
        if delegate["ipMasq"] == nil { delegate["ipMasq"] = .bool(!options.ipMasq) }
        if delegate["mtu"] == nil { delegate["mtu"] = .integer(Int64(lease.mtu)) }
        if delegate["isGateway"] == nil { delegate["isGateway"] = .bool(true) }
        if delegate["bridge"] == nil { delegate["bridge"] = .string(options.bridge) }
        if let version = config["cniVersion"]?.stringValue, !version.isEmpty {
            delegate["cniVersion"] = .string(version)
        }

        var ipam: JSONValue
        switch config["ipam"] {
        case nil, .null?: ipam = .object([:])
        case .object(let members)?: ipam = .object(members)
        default: throw CNIError(code: CNIError.invalidNetworkConfig, msg: "flannel config: \"ipam\" must be an object")
        }
        if ipam["type"] == nil { ipam["type"] = .string("host-local") }
        ipam["ranges"] = .array([.array([.object(["subnet": .string(lease.subnet.masked.description)])])])
        var routes = ipam["routes"]?.arrayValue ?? []
        routes.append(.object(["dst": .string(lease.config.network.description)]))
        ipam["routes"] = .array(routes)
        if ipam["dataDir"] == nil { ipam["dataDir"] = .string(ipamDataDir) }
        delegate["ipam"] = ipam
        return delegate
    }
}
