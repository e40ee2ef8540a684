import CNI

/// The host-local configuration, read from a full network configuration
/// (the IPAM plugin receives the calling plugin's whole config, not only `ipam`).
///
/// Range sets come, in this order, from `runtimeConfig.ipRanges`, the legacy
/// top-level `ipam.subnet`/`rangeStart`/`rangeEnd`/`gateway`, and `ipam.ranges`.
/// Requested addresses come from CNI_ARGS `IP=`, `args.cni.ips` and
/// `runtimeConfig.ips`, in that order.
public struct HostLocalConfig: Sendable, Equatable {
    /// The network name, which is also the directory under `dataDir`.
    public var networkName: String
    public var cniVersion: String?
    public var rangeSets: [IPRangeSet]
    public var requestedAddresses: [IPAddress]
    public var routes: [CNIResult.Route]
    /// The parent of the network's directory, `/var/lib/cni/networks` by default.
    public var dataDir: String
    public var resolvConf: String?

    public static let defaultDataDir = "/var/lib/cni/networks"

    /// The directory holding this network's reservations: `dataDir/networkName`.
    public var networkDirectory: String {
        dataDir.hasSuffix("/") ? dataDir + networkName : dataDir + "/" + networkName
    }

    /// Reads and validates the configuration like the reference plugin's
    /// `LoadIPAMConfig`. Throws a `CNIError` (code 7) naming the invalid field.
    public init(networkConfig: JSONValue, cniArgs: String = "") throws {
        guard networkConfig.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("invalid network configuration: expected a JSON object")
        }
        guard let ipam = networkConfig["ipam"], ipam.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("IPAM config missing 'ipam' key")
        }
        let name = try IPAMField.string(networkConfig["name"], "name") ?? ""
        try Self.validateNetworkName(name)
        networkName = name
        cniVersion = try IPAMField.string(networkConfig["cniVersion"], "cniVersion")

        requestedAddresses = try Self.requestedAddresses(networkConfig: networkConfig, cniArgs: cniArgs)

        var sets: [IPRangeSet] = []
        for (index, value) in try IPAMField.array(networkConfig["runtimeConfig"]?["ipRanges"],
                                                 "runtimeConfig.ipRanges").enumerated() {
            sets.append(try Self.rangeSet(value, index: index, field: "runtimeConfig.ipRanges[\(index)]"))
        }
        if try IPAMField.network(ipam["subnet"], "ipam.subnet") != nil {
            sets.append(try Self.rangeSet([ipam], index: sets.count, field: "ipam"))
        }
        let configured = try IPAMField.array(ipam["ranges"], "ipam.ranges")
        for (index, value) in configured.enumerated() {
            sets.append(try Self.rangeSet(value, index: sets.count, field: "ipam.ranges[\(index)]"))
        }
        guard !sets.isEmpty else { throw CNIErrorFactory.invalidConfig("no IP ranges specified") }
        for (index, set) in sets.enumerated() {
            for (offset, other) in sets[(index + 1)...].enumerated() where set.overlaps(other) {
                throw CNIErrorFactory.invalidConfig("range set \(index) overlaps with \(index + offset + 1)")
            }
        }
        rangeSets = sets

        routes = try IPAMField.routes(ipam["routes"], "ipam.routes")
        let directory = try IPAMField.string(ipam["dataDir"], "ipam.dataDir") ?? ""
        dataDir = directory.isEmpty ? Self.defaultDataDir : directory
        let resolvPath = try IPAMField.string(ipam["resolvConf"], "ipam.resolvConf") ?? ""
        resolvConf = resolvPath.isEmpty ? nil : resolvPath
    }

    /// Rejects names that libcni rejects, which also keeps the name from
    /// leaving `dataDir` ("..", "/").
    static func validateNetworkName(_ name: String) throws {
        guard !name.isEmpty else { throw CNIErrorFactory.invalidConfig("missing network name") }
        guard isCNIIdentifier(name) else {
            throw CNIErrorFactory.invalidConfig("invalid characters found in network name \(quoteGo(name))")
        }
    }

    /// Reads one range set: a JSON array of range objects.
    private static func rangeSet(_ value: JSONValue, index: Int, field: String) throws -> IPRangeSet {
        guard let elements = value.arrayValue else {
            throw CNIErrorFactory.invalidConfig("invalid \(field): expected an array of ranges, got \(value)")
        }
        return try rangeSet(elements, index: index, field: field)
    }

    /// Validates the ranges of range set `index`, prefixing errors with
    /// "invalid range set <index>: " as the reference plugin does.
    private static func rangeSet(_ elements: [JSONValue], index: Int, field: String) throws -> IPRangeSet {
        do {
            var ranges: [IPRange] = []
            for (position, element) in elements.enumerated() {
                let name = elements.count == 1 && field == "ipam" ? field : "\(field)[\(position)]"
                guard element.objectValue != nil else {
                    throw CNIErrorFactory.invalidConfig("invalid \(name): expected an object, got \(element)")
                }
                guard let subnet = try IPAMField.network(element["subnet"], "\(name).subnet") else {
                    throw CNIErrorFactory.invalidConfig("missing \(name).subnet")
                }
                ranges.append(try range(subnet: subnet, element, field: name))
            }
            return try IPRangeSet(ranges: ranges)
        } catch let error as CNIError {
            throw CNIErrorFactory.invalidConfig("invalid range set \(index): \(error.msg)")
        }
    }

    private static func range(subnet: IPNetwork, _ object: JSONValue, field: String) throws -> IPRange {
        try IPRange(subnet: subnet,
                    rangeStart: try IPAMField.address(object["rangeStart"], "\(field).rangeStart"),
                    rangeEnd: try IPAMField.address(object["rangeEnd"], "\(field).rangeEnd"),
                    gateway: try IPAMField.address(object["gateway"], "\(field).gateway"))
    }

    /// Collects requested addresses. `runtimeConfig.ips` entries may carry a
    /// prefix length ("10.1.0.5/24"), which is ignored as in the reference plugin.
    private static func requestedAddresses(networkConfig: JSONValue, cniArgs: String) throws -> [IPAddress] {
        var addresses: [IPAddress] = []
        let args = try parseCNIArgs(cniArgs, knownKeys: ["IP"])
        if let text = args["IP"] {
            guard let address = IPAddress(text) else {
                throw CNIErrorFactory.invalidConfig(
                    "ARGS: error parsing value of pair \(quoteGo("IP=\(text)")): invalid IP address \(text)")
            }
            addresses.append(address)
        }
        for text in try IPAMField.strings(networkConfig["args"]?["cni"]?["ips"], "args.cni.ips") {
            guard let address = IPAddress(text) else {
                throw CNIErrorFactory.invalidConfig("invalid IP address \(text) in args.cni.ips")
            }
            addresses.append(address)
        }
        for text in try IPAMField.strings(networkConfig["runtimeConfig"]?["ips"], "runtimeConfig.ips") {
            guard let address = IPAddress(text) ?? IPNetwork(cidr: text)?.address else {
                throw CNIErrorFactory.invalidConfig("invalid IP address \(text) in runtimeConfig.ips")
            }
            addresses.append(address)
        }
        return addresses
    }
}

/// Returns true for names matching libcni's `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`,
/// the rule for network names and container IDs.
func isCNIIdentifier(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, first.isASCII,
          first.properties.isAlphabetic || ("0"..."9").contains(first)
    else { return false }
    return text.unicodeScalars.allSatisfy { scalar in
        scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
            || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "." || scalar == "-")
    }
}

/// Validates a container ID and interface name the way libcni's skel does
/// before a plugin runs, so the reservation files keep their two-line format.
func validateAttachment(containerID: String, ifName: String) throws {
    guard !containerID.isEmpty else { throw CNIErrorFactory.invalidConfig("missing container ID") }
    guard isCNIIdentifier(containerID) else {
        throw CNIErrorFactory.invalidConfig("invalid characters in containerID \(quoteGo(containerID))")
    }
    guard !ifName.isEmpty else { throw CNIErrorFactory.invalidConfig("interface name is empty") }
    guard ifName.utf8.count < 16 else {
        throw CNIErrorFactory.invalidConfig("interface name \(quoteGo(ifName)) should be less than 16 characters")
    }
    guard ifName != ".", ifName != "..",
          !ifName.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace })
    else {
        throw CNIErrorFactory.invalidConfig(
            "interface name \(quoteGo(ifName)) is invalid: it contains / or : or whitespace characters")
    }
}
