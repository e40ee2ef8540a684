import CNI
import Foundation

/// The request JSON of the `exec_cni_plugin` host service: which CNI plugin
/// binary to run, with which command, configuration and environment.
public struct CNIPluginRequest: Sendable, Equatable {
    /// CNI_COMMAND: "ADD", "DEL", "CHECK", "VERSION", "GC" or "STATUS".
    public var command: String
    /// Plugin binary name, looked up in the host's CNI plugin directories.
    public var type: String
    /// The object written to the plugin's stdin.
    public var config: JSONValue
    public var containerID: String
    public var netns: String
    public var ifName: String
    /// CNI_ARGS as key/value pairs.
    public var args: [String: String]

    public init(command: String, type: String, config: JSONValue, containerID: String = "",
                netns: String = "", ifName: String = "", args: [String: String] = [:]) {
        self.command = command
        self.type = type
        self.config = config
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args
    }

    /// Decodes the request object; "command", "type" and "config" are required.
    public init(json: JSONValue) throws(CNIError) {
        guard let command = json["command"]?.stringValue, !command.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid CNI plugin request: missing string \"command\"")
        }
        guard let type = json["type"]?.stringValue, !type.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid CNI plugin request: missing string \"type\"")
        }
        guard let config = json["config"], config.objectValue != nil else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid CNI plugin request: missing object \"config\"")
        }
        var args: [String: String] = [:]
        for (key, value) in json["args"]?.objectValue ?? [:] {
            guard let text = value.stringValue else {
                throw CNIError(code: CNIError.invalidEnvironmentVariables,
                               msg: "invalid CNI plugin request: args value for \"\(key)\" must be a string")
            }
            args[key] = text
        }
        self.init(command: command, type: type, config: config,
                  containerID: json["containerID"]?.stringValue ?? "",
                  netns: json["netns"]?.stringValue ?? "",
                  ifName: json["ifName"]?.stringValue ?? "",
                  args: args)
    }

    public func jsonValue() -> JSONValue {
        var object: [String: JSONValue] = [
            "command": .string(command),
            "type": .string(type),
            "config": config,
        ]
        if !containerID.isEmpty { object["containerID"] = .string(containerID) }
        if !netns.isEmpty { object["netns"] = .string(netns) }
        if !ifName.isEmpty { object["ifName"] = .string(ifName) }
        if !args.isEmpty { object["args"] = .object(args.mapValues { .string($0) }) }
        return .object(object)
    }
}
