import CNI

/// Native `static` IPAM: returns the configured addresses, routes and DNS
/// without keeping any state, with the reference static plugin's rules:
/// - `ipam.addresses`: a list of `{"address": CIDR, "gateway": IP}`;
/// - CNI_ARGS `IP=cidr[,cidr...]` adds addresses and `GATEWAY=ip[,ip...]`
///   sets the gateway of every address whose subnet contains it;
/// - `args.cni.ips`, then `runtimeConfig.ips` (lists of CIDRs) each replace
///   all addresses so far, without gateways.
public struct StaticIPAM: Sendable {
    public struct Address: Sendable, Equatable {
        /// The address with its prefix length; host bits are kept.
        public var address: IPNetwork
        public var gateway: IPAddress?
    }

    public let cniVersion: String?
    public let addresses: [Address]
    public let routes: [CNIResult.Route]
    public let dns: CNIResult.DNS

    /// Parses the full network configuration and CNI_ARGS. Throws a
    /// `CNIError` (code 7) naming the invalid value.
    public init(networkConfig: JSONValue, cniArgs: String = "") throws {
        guard networkConfig.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("invalid network configuration: expected a JSON object")
        }
        guard let ipam = networkConfig["ipam"], ipam.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("IPAM config missing 'ipam' key")
        }
        cniVersion = try IPAMField.string(networkConfig["cniVersion"], "cniVersion")
        routes = try IPAMField.routes(ipam["routes"], "ipam.routes")
        dns = try IPAMField.dns(ipam["dns"], "ipam.dns")

        var list: [Address] = []
        for (index, entry) in try IPAMField.array(ipam["addresses"], "ipam.addresses").enumerated() {
            let field = "ipam.addresses[\(index)]"
            guard entry.objectValue != nil else {
                throw CNIErrorFactory.invalidConfig("invalid \(field): expected an object, got \(entry)")
            }
            let text = try IPAMField.string(entry["address"], "\(field).address") ?? ""
            list.append(Address(address: try Self.cidr(text),
                                gateway: try IPAMField.address(entry["gateway"], "\(field).gateway")))
        }

        let args = try parseCNIArgs(cniArgs, knownKeys: ["IP", "GATEWAY"])
        if let ips = args["IP"], !ips.isEmpty {
            for item in ips.split(separator: ",", omittingEmptySubsequences: false) {
                let text = item.trimmingCharacters(in: .whitespaces)
                list.append(Address(address: try Self.cidr(text), gateway: nil))
            }
        }
        if let gateways = args["GATEWAY"], !gateways.isEmpty {
            for item in gateways.split(separator: ",", omittingEmptySubsequences: false) {
                guard let gateway = IPAddress(item.trimmingCharacters(in: .whitespaces)) else {
                    throw CNIErrorFactory.invalidConfig("invalid gateway address: \(item)")
                }
                for position in list.indices where list[position].address.contains(gateway) {
                    list[position].gateway = gateway
                }
            }
        }

        let argsIPs = try IPAMField.strings(networkConfig["args"]?["cni"]?["ips"], "args.cni.ips")
        if !argsIPs.isEmpty {
            list = try argsIPs.map { Address(address: try Self.cidr($0), gateway: nil) }
        }
        let runtimeIPs = try IPAMField.strings(networkConfig["runtimeConfig"]?["ips"], "runtimeConfig.ips")
        if !runtimeIPs.isEmpty {
            list = try runtimeIPs.map { Address(address: try Self.cidr($0), gateway: nil) }
        }
        addresses = list
    }

    private static func cidr(_ text: String) throws -> IPNetwork {
        guard let network = IPNetwork(cidr: text) else {
            throw CNIErrorFactory.invalidConfig("the 'address' field is expected to be in CIDR notation, got: '\(text)'")
        }
        return network
    }

    /// Returns the CNI ADD result: every address with its gateway, the routes
    /// and the DNS settings, in the configuration's CNI version.
    public func result() -> CNIResult {
        CNIResult(
            cniVersion: IPAMField.resultVersion(for: cniVersion),
            ips: addresses.map { CNIResult.IPConfig(address: $0.address.description, gateway: $0.gateway?.description) },
            routes: routes, dns: dns)
    }

    /// Checks a previous result (CNI CHECK): each configured address that
    /// appears in `previousResult` must carry the configured gateway.
    public func check(previousResult: CNIResult, ifName: String) throws {
        for configured in addresses {
            for ip in previousResult.ips {
                guard let assigned = IPNetwork(cidr: ip.address), assigned.address == configured.address.address
                else { continue }
                guard let gateway = configured.gateway else { break }
                if ip.gateway.flatMap(IPAddress.init) == gateway { break }
                throw CNIErrorFactory.failed("static: Failed to match addr \(assigned.address) on interface \(ifName)")
            }
        }
    }
}
