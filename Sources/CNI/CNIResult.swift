import Foundation

/// A CNI ADD result, modelled on the 1.1.0 specification. Results of every
/// supported version (0.3.0 to 1.1.0) parse into this type, and
/// `encoded(as:)` writes it in any of them using the specification's
/// conversion rules.
public struct CNIResult: Sendable, Equatable {
    /// The version the result was parsed from or is meant to be written in.
    public var cniVersion: String
    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public init(cniVersion: String = CNIVersion.current.description, interfaces: [Interface] = [],
                ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()) {
        self.cniVersion = cniVersion
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }

    /// An interface the plugin created or configured.
    public struct Interface: Sendable, Equatable, Hashable {
        public var name: String
        public var mac: String?
        /// Since 1.1.0.
        public var mtu: Int?
        /// The namespace path for an interface inside the container, nil for a host interface.
        public var sandbox: String?
        /// Since 1.1.0: the socket path of a vhost-user or similar interface.
        public var socketPath: String?
        /// Since 1.1.0: the PCI address of a device interface.
        public var pciID: String?

        public init(name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil,
                    socketPath: String? = nil, pciID: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
            self.socketPath = socketPath
            self.pciID = pciID
        }
    }

    /// An assigned address.
    public struct IPConfig: Sendable, Equatable, Hashable {
        /// The address with its prefix length in CIDR notation, "10.1.0.5/24".
        public var address: String
        public var gateway: String?
        /// Index into `interfaces` of the interface that carries the address.
        public var interface: Int?

        public init(address: String, gateway: String? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }

        /// "4" or "6", the `version` field that results before 1.0.0 carry.
        /// An IPv4-mapped IPv6 address counts as "4", as in libcni.
        public var ipVersion: String {
            let host = address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address
            return CNIAddressParser.isIPv4(host) ? "4" : "6"
        }
    }

    public struct Route: Sendable, Equatable, Hashable {
        /// The destination in CIDR notation.
        public var dst: String
        public var gw: String?
        /// Since 1.1.0, like `advmss`, `priority`, `table` and `scope`.
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?
        public var table: Int?
        public var scope: Int?

        public init(dst: String, gw: String? = nil, mtu: Int? = nil, advmss: Int? = nil,
                    priority: Int? = nil, table: Int? = nil, scope: Int? = nil) {
            self.dst = dst
            self.gw = gw
            self.mtu = mtu
            self.advmss = advmss
            self.priority = priority
            self.table = table
            self.scope = scope
        }
    }

    public struct DNS: Sendable, Equatable, Hashable {
        public var nameservers: [String]
        public var domain: String?
        public var search: [String]
        public var options: [String]

        public init(nameservers: [String] = [], domain: String? = nil, search: [String] = [],
                    options: [String] = []) {
            self.nameservers = nameservers
            self.domain = domain
            self.search = search
            self.options = options
        }

        public var isEmpty: Bool {
            nameservers.isEmpty && domain == nil && search.isEmpty && options.isEmpty
        }
    }
}
