import Foundation

// Parsing and version conversion of CNIResult. The conversion rules follow
// the CNI specification and libcni (pkg/types/040 and pkg/types/100):
// - 0.3.0, 0.3.1 and 0.4.0 carry "version": "4" or "6" on each ip; 1.x has none.
// - Interface "mtu", "socketPath", "pciID" and route "mtu", "advmss",
//   "priority", "table", "scope" exist only from 1.1.0 and are dropped below it.
// - "dns" is always written, as an empty object when it has no fields,
//   because Go's omitempty does not drop a struct.

extension CNIResult {
    /// Parses a result of any supported version. Throws a `CNIError` with code
    /// `incompatibleCNIVersion` for a missing or unsupported `cniVersion`, and
    /// `decodingFailure` for malformed JSON or an invalid field.
    public init(parsing data: Data) throws {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "failed to decode CNI result", details: "\(error)")
        }
        try self.init(json: value)
    }

    /// Builds a result from an already parsed JSON value; see `init(parsing:)`.
    public init(json value: JSONValue) throws {
        guard case .object = value else {
            throw Self.decodeError("expected a JSON object, got \(value.encodedString())")
        }
        guard let version = value["cniVersion"]?.stringValue else {
            throw CNIError(code: CNIError.incompatibleCNIVersion, msg: "missing cniVersion in CNI result")
        }
        guard CNIVersion.isSupported(version) else {
            throw CNIError(code: CNIError.incompatibleCNIVersion,
                           msg: "unsupported CNI result version \"\(version)\"",
                           details: "supported versions: \(CNIVersion.supportedVersions.joined(separator: ", "))")
        }
        self.init(cniVersion: version)

        for (index, item) in try Self.array(value["interfaces"], "interfaces").enumerated() {
            let field = "interfaces[\(index)]"
            // libcni accepts an interface without a name and writes it as "".
            let name = try Self.string(item["name"], "\(field).name") ?? ""
            interfaces.append(Interface(
                name: name, mac: try Self.string(item["mac"], "\(field).mac"),
                mtu: try Self.int(item["mtu"], "\(field).mtu"),
                sandbox: try Self.string(item["sandbox"], "\(field).sandbox"),
                socketPath: try Self.string(item["socketPath"], "\(field).socketPath"),
                pciID: try Self.string(item["pciID"], "\(field).pciID")))
        }

        for (index, item) in try Self.array(value["ips"], "ips").enumerated() {
            let field = "ips[\(index)]"
            guard let address = try Self.string(item["address"], "\(field).address") else {
                throw Self.decodeError("missing \(field).address")
            }
            guard CNIAddressParser.isCIDR(address) else {
                throw Self.decodeError("invalid CIDR address \"\(address)\" in \(field).address")
            }
            let gateway = try Self.string(item["gateway"], "\(field).gateway")
            if let gateway, !CNIAddressParser.isIP(gateway) {
                throw Self.decodeError("invalid IP address \"\(gateway)\" in \(field).gateway")
            }
            ips.append(IPConfig(address: address, gateway: gateway,
                                interface: try Self.int(item["interface"], "\(field).interface")))
        }

        for (index, item) in try Self.array(value["routes"], "routes").enumerated() {
            let field = "routes[\(index)]"
            guard let dst = try Self.string(item["dst"], "\(field).dst") else {
                throw Self.decodeError("missing \(field).dst")
            }
            guard CNIAddressParser.isCIDR(dst) else {
                throw Self.decodeError("invalid CIDR \"\(dst)\" in \(field).dst")
            }
            let gw = try Self.string(item["gw"], "\(field).gw")
            if let gw, !CNIAddressParser.isIP(gw) {
                throw Self.decodeError("invalid IP address \"\(gw)\" in \(field).gw")
            }
            routes.append(Route(
                dst: dst, gw: gw, mtu: try Self.int(item["mtu"], "\(field).mtu"),
                advmss: try Self.int(item["advmss"], "\(field).advmss"),
                priority: try Self.int(item["priority"], "\(field).priority"),
                table: try Self.int(item["table"], "\(field).table"),
                scope: try Self.int(item["scope"], "\(field).scope")))
        }

        if let dnsValue = value["dns"], !dnsValue.isNull {
            guard case .object = dnsValue else { throw Self.decodeError("\"dns\" is not an object") }
            dns = DNS(nameservers: try Self.strings(dnsValue["nameservers"], "dns.nameservers"),
                      domain: try Self.string(dnsValue["domain"], "dns.domain"),
                      search: try Self.strings(dnsValue["search"], "dns.search"),
                      options: try Self.strings(dnsValue["options"], "dns.options"))
        }
    }

    /// Returns the result as JSON in `version` (default: `cniVersion`), applying
    /// the conversion rules above. Throws a `CNIError` with code
    /// `incompatibleCNIVersion` for a version outside `CNIVersion.supportedVersions`.
    public func jsonValue(as version: String? = nil) throws -> JSONValue {
        let target = version ?? cniVersion
        guard CNIVersion.isSupported(target), let parsed = CNIVersion(target) else {
            throw CNIError(code: CNIError.incompatibleCNIVersion,
                           msg: "cannot convert CNI result to unsupported version \"\(target)\"",
                           details: "supported versions: \(CNIVersion.supportedVersions.joined(separator: ", "))")
        }
        let hasIPVersion = parsed < .v1_0_0
        let hasV11Fields = parsed >= .v1_1_0

        var object: [String: JSONValue] = ["cniVersion": .string(target)]
        if !interfaces.isEmpty {
            object["interfaces"] = .array(interfaces.map { item in
                var entry: [String: JSONValue] = ["name": .string(item.name)]
                entry["mac"] = item.mac.map(JSONValue.string)
                entry["sandbox"] = item.sandbox.map(JSONValue.string)
                if hasV11Fields {
                    entry["mtu"] = item.mtu.map { .integer(Int64($0)) }
                    entry["socketPath"] = item.socketPath.map(JSONValue.string)
                    entry["pciID"] = item.pciID.map(JSONValue.string)
                }
                return .object(entry)
            })
        }
        if !ips.isEmpty {
            object["ips"] = .array(ips.map { item in
                var entry: [String: JSONValue] = ["address": .string(item.address)]
                entry["gateway"] = item.gateway.map(JSONValue.string)
                entry["interface"] = item.interface.map { .integer(Int64($0)) }
                if hasIPVersion { entry["version"] = .string(item.ipVersion) }
                return .object(entry)
            })
        }
        if !routes.isEmpty {
            object["routes"] = .array(routes.map { item in
                var entry: [String: JSONValue] = ["dst": .string(item.dst)]
                entry["gw"] = item.gw.map(JSONValue.string)
                if hasV11Fields {
                    entry["mtu"] = item.mtu.map { .integer(Int64($0)) }
                    entry["advmss"] = item.advmss.map { .integer(Int64($0)) }
                    entry["priority"] = item.priority.map { .integer(Int64($0)) }
                    entry["table"] = item.table.map { .integer(Int64($0)) }
                    entry["scope"] = item.scope.map { .integer(Int64($0)) }
                }
                return .object(entry)
            })
        }
        var dnsObject: [String: JSONValue] = [:]
        if !dns.nameservers.isEmpty { dnsObject["nameservers"] = .array(dns.nameservers.map(JSONValue.string)) }
        dnsObject["domain"] = dns.domain.map(JSONValue.string)
        if !dns.search.isEmpty { dnsObject["search"] = .array(dns.search.map(JSONValue.string)) }
        if !dns.options.isEmpty { dnsObject["options"] = .array(dns.options.map(JSONValue.string)) }
        object["dns"] = .object(dnsObject)
        return .object(object)
    }

    /// Encodes the result as JSON in `version` (default: `cniVersion`); see `jsonValue(as:)`.
    public func encoded(as version: String? = nil) throws -> Data {
        try jsonValue(as: version).encoded()
    }

    /// Returns a copy converted to `version`: `cniVersion` set, and fields that
    /// version lacks cleared, so that the copy equals a parse of `encoded(as: version)`.
    public func converted(to version: String) throws -> CNIResult {
        try CNIResult(json: jsonValue(as: version))
    }

    // MARK: Field helpers

    private static func decodeError(_ details: String) -> CNIError {
        CNIError(code: CNIError.decodingFailure, msg: "failed to decode CNI result", details: details)
    }

    private static func array(_ value: JSONValue?, _ field: String) throws -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard let elements = value.arrayValue else { throw decodeError("\"\(field)\" is not an array") }
        for (index, element) in elements.enumerated() where element.objectValue == nil {
            throw decodeError("\(field)[\(index)] is not an object")
        }
        return elements
    }

    private static func string(_ value: JSONValue?, _ field: String) throws -> String? {
        guard let value, !value.isNull else { return nil }
        guard let text = value.stringValue else { throw decodeError("\(field) is not a string") }
        // Go's omitempty writes no empty strings, so an empty one means "absent".
        return text.isEmpty ? nil : text
    }

    private static func strings(_ value: JSONValue?, _ field: String) throws -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let elements = value.arrayValue else { throw decodeError("\(field) is not an array") }
        return try elements.enumerated().map { index, element in
            guard let text = element.stringValue else { throw decodeError("\(field)[\(index)] is not a string") }
            return text
        }
    }

    private static func int(_ value: JSONValue?, _ field: String) throws -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let number = value.int64Value, let result = Int(exactly: number) else {
            throw decodeError("\(field) is not an integer")
        }
        return result
    }
}
