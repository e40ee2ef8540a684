import CNI

/// The JSON layout of record files. Encoding goes through `JSONValue` so
/// configurations and results keep their exact numbers.
extension SandboxRecord {
    /// Layout version written to every file; a file with another version is
    /// treated as unreadable.
    static let formatVersion: Int64 = 1

    func jsonValue() throws -> JSONValue {
        var object: [String: JSONValue] = [
            "version": .integer(Self.formatVersion),
            "sandboxID": .string(sandboxID),
            "pod": ["namespace": .string(pod.namespace), "name": .string(pod.name), "uid": .string(pod.uid)],
            "netnsPath": .string(netnsPath),
            "attachments": .array(try attachments.map { try $0.jsonValue() }),
            "stopped": .bool(stopped),
        ]
        if let intent { object["intent"] = try intent.jsonValue() }
        return .object(object)
    }

    init(json: JSONValue) throws {
        guard json["version"]?.int64Value == Self.formatVersion else {
            throw RecordFormatError("unsupported \"version\" \(json["version"]?.description ?? "(missing)"), expected \(Self.formatVersion)")
        }
        let pod = try RecordFormatError.require(json["pod"], "pod")
        self.init(
            sandboxID: try RecordFormatError.string(json, "sandboxID"),
            pod: PodReference(namespace: try RecordFormatError.string(pod, "namespace"),
                              name: try RecordFormatError.string(pod, "name"),
                              uid: try RecordFormatError.string(pod, "uid")),
            netnsPath: try RecordFormatError.string(json, "netnsPath"),
            attachments: try (json["attachments"]?.arrayValue ?? []).map { try AttachmentRecord(json: $0) },
            intent: try json["intent"].map { try AttachmentRecord(json: $0) },
            stopped: json["stopped"]?.boolValue ?? false)
    }
}

extension AttachmentRecord {
    func jsonValue() throws -> JSONValue {
        var object: [String: JSONValue] = [
            "network": .string(request.network),
            "interface": .string(request.interface),
            "backend": .string(backend),
            "netnsPath": .string(request.netnsPath),
            "config": request.config,
            "runtimeConfig": .object(request.runtimeConfig),
            "defaultRoute": .array(request.defaultRoute.map { .string($0) }),
            "cniArgs": .object(request.cniArgs.mapValues { .string($0) }),
            "sandboxID": .string(request.sandboxID),
            "pod": ["namespace": .string(request.pod.namespace), "name": .string(request.pod.name),
                    "uid": .string(request.pod.uid)],
        ]
        if let namespace = request.definitionNamespace { object["definitionNamespace"] = .string(namespace) }
        if let result { object["result"] = try result.jsonValue() }
        return .object(object)
    }

    init(json: JSONValue) throws {
        let pod = try RecordFormatError.require(json["pod"], "pod")
        var cniArgs: [String: String] = [:]
        for (key, value) in json["cniArgs"]?.objectValue ?? [:] {
            cniArgs[key] = value.stringValue
        }
        let request = AttachmentRequest(
            sandboxID: try RecordFormatError.string(json, "sandboxID"),
            pod: PodReference(namespace: try RecordFormatError.string(pod, "namespace"),
                              name: try RecordFormatError.string(pod, "name"),
                              uid: try RecordFormatError.string(pod, "uid")),
            netnsPath: try RecordFormatError.string(json, "netnsPath"),
            network: try RecordFormatError.string(json, "network"),
            definitionNamespace: json["definitionNamespace"]?.stringValue,
            interface: try RecordFormatError.string(json, "interface"),
            config: try RecordFormatError.require(json["config"], "config"),
            runtimeConfig: json["runtimeConfig"]?.objectValue ?? [:],
            defaultRoute: (json["defaultRoute"]?.arrayValue ?? []).compactMap(\.stringValue),
            cniArgs: cniArgs)
        self.init(request: request, result: try json["result"].map { try CNIResult(json: $0) })
        if let backend = json["backend"]?.stringValue { self.backend = backend }
    }
}

/// A record file whose content does not have the expected layout.
struct RecordFormatError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }

    static func require(_ value: JSONValue?, _ key: String) throws -> JSONValue {
        guard let value else { throw RecordFormatError("missing \"\(key)\"") }
        return value
    }

    static func string(_ object: JSONValue, _ key: String) throws -> String {
        guard let text = object[key]?.stringValue else { throw RecordFormatError("missing or non-string \"\(key)\"") }
        return text
    }
}
