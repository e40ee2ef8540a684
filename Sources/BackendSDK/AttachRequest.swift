import CNI
import Foundation

/// The request JSON of attach, detach and check (section 6 of
/// `hydra_backend.h`), decoded. The host encodes it with `jsonValue()` and
/// the SDK decodes it with `init(json:)`, so both sides share one definition.
public struct AttachRequest: Sendable, Equatable {
    /// The pod sandbox id, used as the CNI container id.
    public var sandboxID: String
    public var podName: String
    public var podNamespace: String
    public var podUID: String
    /// Path of the pod's network namespace. Empty or stale on a detach after
    /// the runtime removed the namespace.
    public var netns: String
    /// Interface name inside the pod, at most 15 bytes.
    public var ifName: String
    /// Hydra network name: "namespace/name" or "name".
    public var networkName: String
    /// The plugin's CNI configuration object (with cniVersion, name, type).
    public var config: JSONValue
    /// CNI capability arguments (ips, mac, portMappings, bandwidth, ...).
    public var runtimeConfig: [String: JSONValue]
    /// CNI_ARGS as key/value pairs.
    public var args: [String: String]
    /// The previous plugin's result in a plugin list, or on detach and check
    /// the result this backend's attach returned.
    public var prevResult: JSONValue?

    public init(sandboxID: String, podName: String = "", podNamespace: String = "",
                podUID: String = "", netns: String, ifName: String, networkName: String,
                config: JSONValue, runtimeConfig: [String: JSONValue] = [:],
                args: [String: String] = [:], prevResult: JSONValue? = nil) {
        self.sandboxID = sandboxID
        self.podName = podName
        self.podNamespace = podNamespace
        self.podUID = podUID
        self.netns = netns
        self.ifName = ifName
        self.networkName = networkName
        self.config = config
        self.runtimeConfig = runtimeConfig
        self.args = args
        self.prevResult = prevResult
    }

    /// The config's "type".
    public var pluginType: String { config["type"]?.stringValue ?? "" }

    /// The config's "cniVersion".
    public var cniVersion: String { config["cniVersion"]?.stringValue ?? "" }

    /// Decodes a request object. Throws `CNIError` with code 7 (invalid
    /// network config) naming the first missing or mistyped field; unknown
    /// fields are ignored.
    public init(json: JSONValue) throws(CNIError) {
        guard case .object(let fields) = json else {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid request: expected a JSON object")
        }

        func string(_ key: String, required: Bool) throws(CNIError) -> String {
            switch fields[key] {
            case .string(let value)?:
                return value
            case nil, .null?:
                if required {
                    throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: missing field \"\(key)\"")
                }
                return ""
            default:
                throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: field \"\(key)\" must be a string")
            }
        }

        sandboxID = try string("sandboxID", required: true)
        podName = try string("podName", required: false)
        podNamespace = try string("podNamespace", required: false)
        podUID = try string("podUID", required: false)
        netns = try string("netns", required: false)
        ifName = try string("ifName", required: true)
        networkName = try string("networkName", required: false)

        guard let config = fields["config"], case .object(let configFields) = config else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: missing object \"config\"")
        }
        guard case .string(let type)? = configFields["type"], !type.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: config has no \"type\"")
        }
        _ = type
        self.config = config
        if networkName.isEmpty { networkName = configFields["name"]?.stringValue ?? "" }

        switch fields["runtimeConfig"] {
        case .object(let members)?: runtimeConfig = members
        case nil, .null?: runtimeConfig = [:]
        default:
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: field \"runtimeConfig\" must be an object")
        }

        args = [:]
        switch fields["args"] {
        case .object(let members)?:
            for (key, value) in members {
                guard let text = value.stringValue else {
                    throw CNIError(code: CNIError.invalidEnvironmentVariables,
                                   msg: "invalid request: args value for \"\(key)\" must be a string")
                }
                args[key] = text
            }
        case nil, .null?: break
        default:
            throw CNIError(code: CNIError.invalidEnvironmentVariables, msg: "invalid request: field \"args\" must be an object")
        }

        switch fields["prevResult"] {
        case nil, .null?: prevResult = nil
        case .object?: prevResult = fields["prevResult"]
        default:
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid request: field \"prevResult\" must be an object")
        }
    }

    /// Decodes request JSON text, rejecting invalid JSON with code 6 (decoding failure).
    public init(jsonText data: Data) throws(CNIError) {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid request JSON: \(error)")
        }
        try self.init(json: value)
    }

    /// Encodes the request as the JSON object of section 6 of `hydra_backend.h`.
    public func jsonValue() -> JSONValue {
        var object: [String: JSONValue] = [
            "sandboxID": .string(sandboxID),
            "podName": .string(podName),
            "podNamespace": .string(podNamespace),
            "podUID": .string(podUID),
            "netns": .string(netns),
            "ifName": .string(ifName),
            "networkName": .string(networkName),
            "config": config,
        ]
        if !runtimeConfig.isEmpty { object["runtimeConfig"] = .object(runtimeConfig) }
        if !args.isEmpty { object["args"] = .object(args.mapValues { .string($0) }) }
        if let prevResult { object["prevResult"] = prevResult }
        return .object(object)
    }
}

extension AttachRequest {
    /// Log fields naming the pod (`pod` as namespace/name, left out when the
    /// request carries no pod name) and the sandbox (`sandbox`).
    public var podLogFields: [(String, String)] {
        var fields: [(String, String)] = []
        if !podName.isEmpty { fields.append(("pod", "\(podNamespace)/\(podName)")) }
        fields.append(("sandbox", sandboxID))
        return fields
    }
}
