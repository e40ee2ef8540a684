import CNI
import Foundation

extension HydraConfiguration {
    /// CNI specification versions a network configuration may declare.
    static let cniVersions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]

    /// Decodes and validates a configuration document. Throws a
    /// `ConfigurationError` listing every problem; `source` names the
    /// document in that error (a file path, or `NRI Configure`).
    public init(parsing data: Data, source: String) throws {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data)
        } catch {
            throw ConfigurationError(source: source, problems: [ConfigurationProblem(path: "(document)", message: "\(error)")])
        }
        var reader = FieldReader()
        self = HydraConfiguration.decode(document, reader: &reader)
        guard reader.problems.isEmpty else {
            throw ConfigurationError(source: source, problems: reader.problems)
        }
    }

    /// Decodes and validates a configuration string; see `init(parsing:source:)`.
    public init(parsing text: String, source: String) throws {
        try self.init(parsing: Data(text.utf8), source: source)
    }

    /// Reads, decodes and validates the configuration file at `path`.
    public init(contentsOfFile path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(source: path, problems: [
                ConfigurationProblem(path: "(file)", message: "failed to read \"\(path)\": \(error.localizedDescription)"),
            ])
        }
        try self.init(parsing: data, source: path)
    }

    private static func decode(_ document: JSONValue, reader: inout FieldReader) -> HydraConfiguration {
        var config = HydraConfiguration()
        let topLevel = ["nri", "backends", "stateDir", "networks", "annotations", "isolation",
                        "reconcile", "kubernetes", "metrics", "log"]
        guard let root = reader.object(document, at: "", allowed: topLevel) else { return config }

        if let value = root["nri"] { config.nri = decodeNRI(value, reader: &reader) }
        if let value = root["backends"] { config.backends = decodeBackends(value, reader: &reader) }
        if let stateDir = reader.string(root, "stateDir", at: "") {
            reader.checkAbsolutePath(stateDir, at: "stateDir")
            config.stateDir = stateDir
        }
        if let elements = reader.array(root, "networks", at: "") {
            config.networks = decodeNetworks(elements, reader: &reader)
        }
        if let value = root["annotations"] { config.annotations = decodeAnnotations(value, reader: &reader) }
        if let value = root["isolation"] { config.isolation = decodeIsolation(value, reader: &reader) }
        if let value = root["reconcile"] { config.reconcile = decodeReconcile(value, reader: &reader) }
        if let value = root["kubernetes"] { config.kubernetes = decodeKubernetes(value, reader: &reader) }
        if let value = root["metrics"] { config.metrics = decodeMetrics(value, reader: &reader) }
        if let value = root["log"] { config.log = decodeLog(value, reader: &reader) }
        checkDefaultInterfaces(config, reader: &reader)
        return config
    }

    /// Reports default networks that would give a pod two interfaces of the
    /// same name, or one named like the default network's interface, which
    /// would fail every matching pod.
    private static func checkDefaultInterfaces(_ config: HydraConfiguration, reader: inout FieldReader) {
        var owners: [String: String] = [config.annotations.defaultInterface: "annotations.defaultInterface"]
        for (index, network) in config.networks.enumerated() {
            guard network.defaultRule != nil, let interface = network.interface else { continue }
            if let owner = owners[interface] {
                reader.report("networks[\(index)].interface",
                              "\"\(interface)\" is already used by \(owner); default networks need distinct interface names")
            } else {
                owners[interface] = "networks[\(index)]"
            }
        }
    }

    private static func decodeNRI(_ value: JSONValue, reader: inout FieldReader) -> NRISettings {
        var nri = NRISettings()
        guard let members = reader.object(value, at: "nri", allowed: ["socket", "pluginName", "pluginIndex"]) else { return nri }
        if let socket = reader.string(members, "socket", at: "nri") {
            reader.checkAbsolutePath(socket, at: "nri.socket")
            nri.socket = socket
        }
        if let name = reader.string(members, "pluginName", at: "nri") {
            if name.isEmpty || name.contains(where: { $0.isWhitespace || $0 == "/" }) {
                reader.report("nri.pluginName", "\"\(name)\" is not valid: expected a non-empty name without '/' or whitespace")
            }
            nri.pluginName = name
        }
        if let index = reader.string(members, "pluginIndex", at: "nri") {
            if index.count != 2 || !index.allSatisfy({ $0 >= "0" && $0 <= "9" }) {
                reader.report("nri.pluginIndex", "\"\(index)\" is not valid: expected two decimal digits, \"00\" to \"99\"")
            }
            nri.pluginIndex = index
        }
        return nri
    }

    private static func decodeBackends(_ value: JSONValue, reader: inout FieldReader) -> BackendSettings {
        var backends = BackendSettings()
        guard let members = reader.object(value, at: "backends", allowed: ["dir", "load"]) else { return backends }
        if let dir = reader.string(members, "dir", at: "backends") {
            reader.checkAbsolutePath(dir, at: "backends.dir")
            backends.dir = dir
        }
        guard let elements = reader.array(members, "load", at: "backends") else { return backends }
        var seen: Set<String> = []
        for (index, element) in elements.enumerated() {
            let path = "backends.load[\(index)]"
            guard let entry = reader.object(element, at: path, allowed: ["name", "path", "required", "config"]) else { continue }
            guard let name = reader.string(entry, "name", at: path) else {
                if entry["name"] == nil { reader.report("\(path).name", "missing; expected the backend's name, for example \"bridge\"") }
                continue
            }
            let nameIsValid = !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            if !nameIsValid {
                reader.report("\(path).name", "\"\(name)\" is not valid: expected letters, digits, '-' and '_' (the library is libhydra-backend-<name>.so)")
            }
            if !seen.insert(name).inserted {
                reader.report("\(path).name", "backend \"\(name)\" is listed more than once")
            }
            var load = BackendLoad(name: name)
            if let required = reader.bool(entry, "required", at: path) { load.required = required }
            if let libraryPath = reader.string(entry, "path", at: path) {
                reader.checkAbsolutePath(libraryPath, at: "\(path).path")
                load.path = libraryPath
            }
            if let config = entry["config"] {
                if config.objectValue == nil {
                    reader.report("\(path).config", "expected an object, found \(FieldReader.kind(of: config))")
                } else {
                    load.config = config
                }
            }
            backends.load.append(load)
        }
        return backends
    }

    private static func decodeNetworks(_ elements: [JSONValue], reader: inout FieldReader) -> [NetworkDefinition] {
        var networks: [NetworkDefinition] = []
        var seen: Set<String> = []
        for (index, element) in elements.enumerated() {
            let path = "networks[\(index)]"
            guard let members = reader.object(element, at: path, allowed: ["name", "interface", "default", "config"]) else { continue }

            let name = reader.string(members, "name", at: path)
            if members["name"] == nil {
                reader.report("\(path).name", "missing; expected the network's name")
            }
            if let name {
                if let problem = NameRules.networkNameProblem(name) {
                    reader.report("\(path).name", "\"\(name)\" is not a valid network name: \(problem)")
                }
                if !seen.insert(name).inserted {
                    reader.report("\(path).name", "network \"\(name)\" is defined more than once")
                }
            }

            let interface = reader.string(members, "interface", at: path)
            if let interface, let problem = NameRules.interfaceNameProblem(interface) {
                reader.report("\(path).interface", "\"\(interface)\" is not a valid interface name: \(problem)")
            }

            var rule: DefaultRule?
            if let value = members["default"] { rule = decodeDefaultRule(value, at: "\(path).default", reader: &reader) }

            var config = JSONValue.object([:])
            if let value = members["config"] {
                config = validateNetworkConfig(value, at: "\(path).config", reader: &reader)
            } else {
                reader.report("\(path).config", "missing; expected a CNI configuration object with \"type\" or \"plugins\"")
            }
            if let name, config["name"] == nil, config.objectValue != nil {
                config["name"] = .string(name)
            }
            if let name {
                networks.append(NetworkDefinition(name: name, interface: interface, defaultRule: rule, config: config))
            }
        }
        return networks
    }

    private static func decodeDefaultRule(_ value: JSONValue, at path: String, reader: inout FieldReader) -> DefaultRule? {
        guard let members = reader.object(value, at: path, allowed: ["namespaces", "labels"]) else { return nil }
        var rule = DefaultRule()
        if let namespaces = reader.stringList(members, "namespaces", at: path) {
            if namespaces.isEmpty {
                reader.report("\(path).namespaces", "empty; list namespaces or \"*\" for all, or remove \"default\" to attach only on request")
            }
            for (index, namespace) in namespaces.enumerated() where namespace != "*" {
                if let problem = NameRules.namespaceProblem(namespace) {
                    reader.report("\(path).namespaces[\(index)]", "\"\(namespace)\" is not a valid namespace: \(problem), or \"*\"")
                }
            }
            rule.namespaces = namespaces
        }
        if let labels = reader.stringMap(members, "labels", at: path) { rule.labels = labels }
        return rule
    }

    /// Checks the parts of a CNI configuration that Hydra relies on: an
    /// object with a `type` string, or a `plugins` list of such objects, and a
    /// known `cniVersion`. Other keys belong to the plugins and pass through.
    static func validateNetworkConfig(_ value: JSONValue, at path: String, reader: inout FieldReader) -> JSONValue {
        guard let members = value.objectValue else {
            reader.report(path, "expected a CNI configuration object, found \(FieldReader.kind(of: value))")
            return .object([:])
        }
        if let version = members["cniVersion"] {
            if let text = version.stringValue {
                _ = reader.check(text, oneOf: cniVersions, at: "\(path).cniVersion")
            } else {
                reader.report("\(path).cniVersion", "expected a string, found \(FieldReader.kind(of: version))")
            }
        }
        if let plugins = members["plugins"] {
            guard let list = plugins.arrayValue, !list.isEmpty else {
                reader.report("\(path).plugins", "expected a non-empty list of plugin configurations")
                return value
            }
            for (index, plugin) in list.enumerated() {
                checkPluginType(plugin, at: "\(path).plugins[\(index)]", reader: &reader)
            }
        } else {
            checkPluginType(value, at: path, reader: &reader)
        }
        return value
    }

    private static func checkPluginType(_ plugin: JSONValue, at path: String, reader: inout FieldReader) {
        guard plugin.objectValue != nil else {
            reader.report(path, "expected a plugin configuration object, found \(FieldReader.kind(of: plugin))")
            return
        }
        guard let type = plugin["type"]?.stringValue, !type.isEmpty else {
            reader.report("\(path).type", "missing; expected the backend or CNI plugin name, for example \"bridge\"")
            return
        }
        if type.contains("/") || type.hasPrefix(".") {
            reader.report("\(path).type", "\"\(type)\" is not valid: expected a plugin name without '/'")
        }
    }

    private static func decodeAnnotations(_ value: JSONValue, reader: inout FieldReader) -> AnnotationSettings {
        var settings = AnnotationSettings()
        let allowed = ["selection", "status", "perNetworkResults", "defaultNetworkName", "defaultInterface"]
        guard let members = reader.object(value, at: "annotations", allowed: allowed) else { return settings }
        if let key = reader.string(members, "selection", at: "annotations") {
            checkAnnotationKey(key, at: "annotations.selection", reader: &reader)
            settings.selection = key
        }
        if let key = reader.string(members, "status", at: "annotations") {
            checkAnnotationKey(key, at: "annotations.status", reader: &reader)
            settings.status = key
        }
        if let flag = reader.bool(members, "perNetworkResults", at: "annotations") { settings.perNetworkResults = flag }
        if let name = reader.string(members, "defaultNetworkName", at: "annotations") {
            if name.isEmpty { reader.report("annotations.defaultNetworkName", "empty; expected the default network's name") }
            settings.defaultNetworkName = name
        }
        if let interface = reader.string(members, "defaultInterface", at: "annotations") {
            if let problem = NameRules.interfaceNameProblem(interface) {
                reader.report("annotations.defaultInterface", "\"\(interface)\" is not a valid interface name: \(problem)")
            }
            settings.defaultInterface = interface
        }
        return settings
    }

    /// Kubernetes annotation keys: an optional DNS subdomain prefix and '/',
    /// then a name of at most 63 characters.
    private static func checkAnnotationKey(_ key: String, at path: String, reader: inout FieldReader) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(parts.last ?? "")
        let nameIsValid = !name.isEmpty && name.utf8.count <= 63
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        let prefixIsValid = parts.count == 1 || (parts.count == 2 && NameRules.networkNameProblem(String(parts[0])) == nil)
        if !nameIsValid || !prefixIsValid {
            reader.report(path, "\"\(key)\" is not a valid annotation key: expected [prefix/]name with a DNS subdomain prefix and a name of at most 63 letters, digits, '-', '_' or '.'")
        }
    }

    private static func decodeIsolation(_ value: JSONValue, reader: inout FieldReader) -> IsolationSettings {
        var settings = IsolationSettings()
        guard let members = reader.object(value, at: "isolation", allowed: ["enabled", "allowedNamespaces"]) else { return settings }
        if let flag = reader.bool(members, "enabled", at: "isolation") { settings.enabled = flag }
        if let namespaces = reader.stringList(members, "allowedNamespaces", at: "isolation") {
            for (index, namespace) in namespaces.enumerated() {
                if let problem = NameRules.namespaceProblem(namespace) {
                    reader.report("isolation.allowedNamespaces[\(index)]", "\"\(namespace)\" is not a valid namespace: \(problem)")
                }
            }
            settings.allowedNamespaces = namespaces
        }
        return settings
    }

    private static func decodeReconcile(_ value: JSONValue, reader: inout FieldReader) -> ReconcileSettings {
        var settings = ReconcileSettings()
        guard let members = reader.object(value, at: "reconcile", allowed: ["intervalSeconds", "attachMissing"]) else { return settings }
        if let seconds = reader.integer(members, "intervalSeconds", at: "reconcile", range: 0...86_400) {
            settings.intervalSeconds = seconds
        }
        if let flag = reader.bool(members, "attachMissing", at: "reconcile") { settings.attachMissing = flag }
        return settings
    }

    private static func decodeKubernetes(_ value: JSONValue, reader: inout FieldReader) -> KubernetesSettings {
        var settings = KubernetesSettings()
        let allowed = ["enabled", "server", "tokenFile", "caFile", "lookupTimeoutMilliseconds"]
        guard let members = reader.object(value, at: "kubernetes", allowed: allowed) else { return settings }
        if let flag = reader.bool(members, "enabled", at: "kubernetes") { settings.enabled = flag }
        if let server = reader.string(members, "server", at: "kubernetes") {
            if !server.isEmpty && !server.hasPrefix("https://") && !server.hasPrefix("http://") {
                reader.report("kubernetes.server", "\"\(server)\" is not valid: expected an https:// URL, or empty for the in-cluster configuration")
            }
            settings.server = server
        }
        if let file = reader.string(members, "tokenFile", at: "kubernetes") {
            if !file.isEmpty { reader.checkAbsolutePath(file, at: "kubernetes.tokenFile") }
            settings.tokenFile = file
        }
        if let file = reader.string(members, "caFile", at: "kubernetes") {
            if !file.isEmpty { reader.checkAbsolutePath(file, at: "kubernetes.caFile") }
            settings.caFile = file
        }
        if let timeout = reader.integer(members, "lookupTimeoutMilliseconds", at: "kubernetes", range: 0...10_000) {
            settings.lookupTimeoutMilliseconds = timeout
        }
        return settings
    }

    private static func decodeMetrics(_ value: JSONValue, reader: inout FieldReader) -> MetricsSettings {
        var settings = MetricsSettings()
        guard let members = reader.object(value, at: "metrics", allowed: ["listen"]) else { return settings }
        if let listen = reader.string(members, "listen", at: "metrics") {
            if !listen.isEmpty && !isHostPort(listen) {
                reader.report("metrics.listen", "\"\(listen)\" is not valid: expected host:port (IPv6 as [addr]:port) with a port from 1 to 65535, or empty to disable")
            }
            settings.listen = listen
        }
        return settings
    }

    private static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return false }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return false }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            return NameRules.isIPAddress(host)
        }
        return !host.isEmpty && !host.contains(":") && !host.contains(where: \.isWhitespace)
    }

    private static func decodeLog(_ value: JSONValue, reader: inout FieldReader) -> LogSettings {
        var settings = LogSettings()
        guard let members = reader.object(value, at: "log", allowed: ["level", "format"]) else { return settings }
        if let level = reader.string(members, "level", at: "log") {
            _ = reader.check(level, oneOf: ["debug", "info", "warn", "warning", "error"], at: "log.level")
            settings.level = level
        }
        if let format = reader.string(members, "format", at: "log") {
            _ = reader.check(format, oneOf: ["logfmt", "json"], at: "log.format")
            settings.format = format
        }
        return settings
    }
}
