import CNI

/// One entry of the Network Plumbing Working Group network-status list
/// (the `k8s.v1.cni.cncf.io/network-status` pod annotation).
public struct NetworkStatusEntry: Sendable, Equatable {
    /// `namespace/network` for a NetworkAttachmentDefinition, the bare
    /// name for a local network or the default network.
    public var name: String
    public var interface: String?
    /// Addresses without prefix length.
    public var ips: [String]
    public var mac: String?
    public var mtu: Int?
    public var isDefault: Bool
    public var dns: CNIResult.DNS?
    /// Gateways of the pod's default route when this network carries it.
    public var gateway: [String]

    public init(name: String, interface: String? = nil, ips: [String] = [], mac: String? = nil, mtu: Int? = nil,
                isDefault: Bool = false, dns: CNIResult.DNS? = nil, gateway: [String] = []) {
        self.name = name
        self.interface = interface
        self.ips = ips
        self.mac = mac
        self.mtu = mtu
        self.isDefault = isDefault
        self.dns = dns
        self.gateway = gateway
    }

    /// The entry as JSON: optional fields are left out when empty, and
    /// `default` is always written.
    public var jsonValue: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "default": .bool(isDefault)]
        if let interface { object["interface"] = .string(interface) }
        if !ips.isEmpty { object["ips"] = .array(ips.map { .string($0) }) }
        if let mac { object["mac"] = .string(mac) }
        if let mtu { object["mtu"] = .integer(Int64(mtu)) }
        if let dns, !dns.isEmpty {
            var entry: [String: JSONValue] = [:]
            if !dns.nameservers.isEmpty { entry["nameservers"] = .array(dns.nameservers.map { .string($0) }) }
            if let domain = dns.domain { entry["domain"] = .string(domain) }
            if !dns.search.isEmpty { entry["search"] = .array(dns.search.map { .string($0) }) }
            if !dns.options.isEmpty { entry["options"] = .array(dns.options.map { .string($0) }) }
            object["dns"] = .object(entry)
        }
        if !gateway.isEmpty { object["gateway"] = .array(gateway.map { .string($0) }) }
        return .object(object)
    }
}

/// Builds network-status entries and the pod annotations that carry them.
public enum NetworkStatus {
    /// Returns the entries for one completed attachment: one per interface
    /// of the result that lies in the pod (`sandbox` set), with the
    /// addresses whose `interface` index points at it. A result that marks
    /// no interface as in the pod gives one entry for the requested
    /// interface with all addresses. Addresses without an interface index
    /// go to the entry of the requested interface.
    public static func entries(for record: AttachmentRecord) -> [NetworkStatusEntry] {
        let request = record.request
        guard let result = record.result else { return [] }
        let name = request.statusName
        let podInterfaces = result.interfaces.enumerated().filter { !($0.element.sandbox ?? "").isEmpty }

        guard !podInterfaces.isEmpty else {
            return [NetworkStatusEntry(name: name, interface: request.interface,
                                       ips: result.ips.map { stripPrefix($0.address) },
                                       dns: result.dns, gateway: request.defaultRoute)]
        }
        let requestedIndex = podInterfaces.first { $0.element.name == request.interface }?.offset ?? podInterfaces[0].offset
        return podInterfaces.map { index, interface in
            let ips = result.ips.filter { ($0.interface ?? requestedIndex) == index }.map { stripPrefix($0.address) }
            let routed = index == requestedIndex ? request.defaultRoute : []
            return NetworkStatusEntry(name: name, interface: interface.name, ips: ips, mac: interface.mac,
                                      mtu: interface.mtu, dns: result.dns, gateway: routed)
        }
    }

    /// Builds the default network's entry from the pod's IPs (or those read
    /// from its default interface).
    public static func defaultEntry(name: String, interface: String, ips: [String], mac: String?) -> NetworkStatusEntry {
        NetworkStatusEntry(name: name, interface: interface, ips: ips.map(stripPrefix), mac: mac, isDefault: true)
    }

    /// Encodes a network-status list as compact JSON text with sorted keys.
    public static func json(_ entries: [NetworkStatusEntry]) -> String {
        JSONValue.array(entries.map(\.jsonValue)).encodedString(sortedKeys: true)
    }

    /// Builds the annotations to merge into the pod: the network-status list
    /// (default entry first, then attachments in attach order) under
    /// `settings.status` and, with `settings.perNetworkResults`, each
    /// network's CNI result under `hydra.clusternet.io.<network>`.
    public static func annotations(for record: SandboxRecord, defaultEntry: NetworkStatusEntry?,
                                   settings: AnnotationSettings) -> [String: String] {
        var entries: [NetworkStatusEntry] = []
        if let defaultEntry { entries.append(defaultEntry) }
        for attachment in record.attachments { entries.append(contentsOf: Self.entries(for: attachment)) }
        var annotations = [settings.status: json(entries)]
        if settings.perNetworkResults {
            for attachment in record.attachments {
                guard let result = attachment.result, let value = try? result.jsonValue() else { continue }
                annotations["hydra.clusternet.io.\(attachment.request.network)"] = value.encodedString(sortedKeys: true)
            }
        }
        return annotations
    }

    static func stripPrefix(_ address: String) -> String {
        address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address
    }
}
