import CNI

// Readers for the configuration fields that host-local and static share:
// routes, dns and typed scalars, with errors that name the field.

enum IPAMField {
    static func string(_ value: JSONValue?, _ field: String) throws -> String? {
        guard let value, !value.isNull else { return nil }
        guard let text = value.stringValue else {
            throw CNIErrorFactory.invalidConfig("invalid \(field): expected a string, got \(value)")
        }
        return text
    }

    static func array(_ value: JSONValue?, _ field: String) throws -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard let elements = value.arrayValue else {
            throw CNIErrorFactory.invalidConfig("invalid \(field): expected an array, got \(value)")
        }
        return elements
    }

    static func strings(_ value: JSONValue?, _ field: String) throws -> [String] {
        try array(value, field).enumerated().map { index, element in
            guard let text = element.stringValue else {
                throw CNIErrorFactory.invalidConfig("invalid \(field)[\(index)]: expected a string, got \(element)")
            }
            return text
        }
    }

    static func int(_ value: JSONValue?, _ field: String) throws -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let number = value.int64Value, let result = Int(exactly: number) else {
            throw CNIErrorFactory.invalidConfig("invalid \(field): expected an integer, got \(value)")
        }
        return result
    }

    /// Parses an IP address field such as "gateway" or "rangeStart".
    static func address(_ value: JSONValue?, _ field: String) throws -> IPAddress? {
        guard let text = try string(value, field), !text.isEmpty else { return nil }
        guard let address = IPAddress(text) else {
            throw CNIErrorFactory.invalidConfig("invalid IP address \(text) in \(field)")
        }
        return address
    }

    /// Parses a CIDR field such as "subnet" or a route's "dst".
    static func network(_ value: JSONValue?, _ field: String) throws -> IPNetwork? {
        guard let text = try string(value, field) else { return nil }
        guard let network = IPNetwork(cidr: text) else {
            throw CNIErrorFactory.invalidConfig("invalid CIDR address: \(text) in \(field)")
        }
        return network
    }

    /// Parses the `routes` list of an `ipam` section into result routes,
    /// keeping the CNI 1.1 fields (mtu, advmss, priority, table, scope).
    static func routes(_ value: JSONValue?, _ field: String) throws -> [CNIResult.Route] {
        try array(value, field).enumerated().map { index, element in
            let name = "\(field)[\(index)]"
            guard element.objectValue != nil else {
                throw CNIErrorFactory.invalidConfig("invalid \(name): expected an object, got \(element)")
            }
            guard let dst = try network(element["dst"], "\(name).dst") else {
                throw CNIErrorFactory.invalidConfig("missing \(name).dst")
            }
            let gateway = try address(element["gw"], "\(name).gw")
            return CNIResult.Route(
                dst: dst.description, gw: gateway?.description,
                mtu: try int(element["mtu"], "\(name).mtu"), advmss: try int(element["advmss"], "\(name).advmss"),
                priority: try int(element["priority"], "\(name).priority"),
                table: try int(element["table"], "\(name).table"), scope: try int(element["scope"], "\(name).scope"))
        }
    }

    /// Parses a `dns` object (nameservers, domain, search, options).
    static func dns(_ value: JSONValue?, _ field: String) throws -> CNIResult.DNS {
        guard let value, !value.isNull else { return CNIResult.DNS() }
        guard value.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("invalid \(field): expected an object, got \(value)")
        }
        let domain = try string(value["domain"], "\(field).domain")
        return CNIResult.DNS(
            nameservers: try strings(value["nameservers"], "\(field).nameservers"),
            domain: domain?.isEmpty == true ? nil : domain,
            search: try strings(value["search"], "\(field).search"),
            options: try strings(value["options"], "\(field).options"))
    }

    /// Returns the result version for a configuration's `cniVersion`: the
    /// same version when Hydra can write it, else the newest one.
    static func resultVersion(for configVersion: String?) -> String {
        if let configVersion, CNIVersion.isSupported(configVersion) { return configVersion }
        return CNIVersion.current.description
    }
}
