import CNI

/// A network's CNI configuration, a plugin list or a single plugin, read
/// the way libcni reads it (pkg/libcni/conf.go): a single plugin becomes a
/// list of one, whose `name` and `cniVersion` are the plugin's own.
struct PluginChain: Sendable {
    /// The list's `name`, injected into every plugin's input and part of the
    /// result cache key. Falls back to Hydra's network name when missing.
    var name: String
    /// The list's `cniVersion`; `CNIVersion.current` when missing.
    var cniVersion: String
    /// The list's `cniVersions`, when present: the versions the operator
    /// allows, negotiated against the plugins' VERSION outputs.
    var cniVersions: [String]?
    /// `disableCheck`: CHECK succeeds without running any plugin.
    var disableCheck: Bool
    /// `disableGC`: GC does nothing.
    var disableGC: Bool
    var plugins: [ChainPlugin]

    init(config: JSONValue, network: String) throws(CNIError) {
        guard let object = config.objectValue else {
            throw CNIError(code: CNIError.invalidNetworkConfig,
                           msg: "network \"\(network)\": configuration is not a JSON object: \(config.encodedString())")
        }
        name = object["name"]?.stringValue ?? network
        cniVersion = object["cniVersion"]?.stringValue ?? CNIVersion.current.description
        disableCheck = Self.flag(object["disableCheck"])
        disableGC = Self.flag(object["disableGC"])

        if let versions = object["cniVersions"] {
            guard let list = versions.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "network \"\(network)\": \"cniVersions\" must be a list of strings, got \(versions.encodedString())")
            }
            cniVersions = list.compactMap(\.stringValue)
        }

        let entries: [JSONValue]
        if let list = object["plugins"] {
            guard let array = list.arrayValue else {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "network \"\(network)\": \"plugins\" is not a list: \(list.encodedString())")
            }
            entries = array
        } else {
            // A single plugin: list-level keys are not plugin input.
            var single = object
            single.removeValue(forKey: "cniVersions")
            entries = [.object(single)]
        }
        guard !entries.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "network \"\(network)\" has an empty plugin list")
        }
        var plugins: [ChainPlugin] = []
        for (index, entry) in entries.enumerated() {
            plugins.append(try ChainPlugin(entry, index: index, network: network))
        }
        self.plugins = plugins
    }

    /// Reads a boolean list flag; libcni also accepts the string "true".
    private static func flag(_ value: JSONValue?) -> Bool {
        if let bool = value?.boolValue { return bool }
        return value?.stringValue?.lowercased() == "true"
    }
}

/// One plugin of a chain: its configuration object as the operator wrote
/// it, without `capabilities`, and the capabilities it declares.
struct ChainPlugin: Sendable {
    var index: Int
    var type: String
    /// The configuration object minus `capabilities`. Every other field,
    /// known or not, reaches the plugin unchanged.
    var config: [String: JSONValue]
    /// The capability names whose `capabilities` value is true.
    var capabilities: Set<String>

    init(_ value: JSONValue, index: Int, network: String) throws(CNIError) {
        guard var object = value.objectValue else {
            throw CNIError(code: CNIError.invalidNetworkConfig,
                           msg: "network \"\(network)\": plugin \(index) is not a JSON object: \(value.encodedString())")
        }
        guard let type = object["type"]?.stringValue, !type.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "network \"\(network)\": plugin \(index) has no \"type\"")
        }
        var declared = Set<String>()
        for (key, enabled) in object["capabilities"]?.objectValue ?? [:] where enabled.boolValue == true {
            declared.insert(key)
        }
        // `capabilities` selects the runtime config to pass, so plugins never see it.
        object.removeValue(forKey: "capabilities")
        self.index = index
        self.type = type
        self.config = object
        self.capabilities = declared
    }

    /// Builds the plugin's input: `name` and `cniVersion` injected,
    /// `runtimeConfig` set when `runtimeConfig` is not empty (replacing any
    /// the operator wrote, as libcni's InjectConf does), and `prevResult`
    /// in `version`.
    func input(name: String, version: String, runtimeConfig: [String: JSONValue],
               prevResult: CNIResult?) throws -> JSONValue {
        var object = config
        object["name"] = .string(name)
        object["cniVersion"] = .string(version)
        if !runtimeConfig.isEmpty { object["runtimeConfig"] = .object(runtimeConfig) }
        if let prevResult { object["prevResult"] = try prevResult.jsonValue(as: version) }
        return .object(object)
    }
}
