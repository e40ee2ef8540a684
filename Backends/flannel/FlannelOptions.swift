import CNI
import Etcd
import Foundation

/// The flannel backend's configuration object in Hydra's configuration
/// file. Keys follow flanneld's command-line flags in camel case.
public struct FlannelOptions: Sendable {
    public var etcd: EtcdConfiguration
    /// The etcd key prefix of the network, flanneld's `--etcd-prefix`.
    public var etcdPrefix: String
    /// Interface whose IPv4 address is the public IP, flanneld's `--iface`.
    /// Empty means the interface of the default route.
    public var interface: String
    /// Public IP to announce instead of the interface's first address, flanneld's `--public-ip`.
    public var publicIP: String
    /// Path of the subnet.env file, flanneld's `--subnet-file`.
    public var subnetFile: String
    /// Masquerade traffic leaving the flannel network, flanneld's `--ip-masq`.
    public var ipMasq: Bool
    /// Accept forwarded traffic to and from the flannel network in FORWARD,
    /// flanneld's `--iptables-forward-rules`.
    public var forwardRules: Bool
    /// Bridge that pods attach to, unless the network's delegate names one.
    public var bridge: String
    /// Parent directory of the host-local reservations; empty means `<state directory>/ipam`.
    public var ipamDataDir: String
    /// TTL of the etcd lease behind the subnet lease: 24 hours, as flanneld.
    public var leaseTTLSeconds: Int64
    /// Renew this long before the lease expires: 1 hour, as flanneld.
    public var renewMarginSeconds: Int64
    /// Maximum wait in seconds between retries while etcd is unreachable.
    public var retryMaxSeconds: Double

    public init(etcd: EtcdConfiguration, etcdPrefix: String = "/coreos.com/network", interface: String = "",
                publicIP: String = "", subnetFile: String = "/run/hydra/flannel/subnet.env", ipMasq: Bool = false,
                forwardRules: Bool = true, bridge: String = "hydra-flannel", ipamDataDir: String = "",
                leaseTTLSeconds: Int64 = 86_400, renewMarginSeconds: Int64 = 3_600, retryMaxSeconds: Double = 30) {
        self.etcd = etcd
        self.etcdPrefix = etcdPrefix.hasSuffix("/") ? String(etcdPrefix.dropLast()) : etcdPrefix
        self.interface = interface
        self.publicIP = publicIP
        self.subnetFile = subnetFile
        self.ipMasq = ipMasq
        self.forwardRules = forwardRules
        self.bridge = bridge
        self.ipamDataDir = ipamDataDir
        self.leaseTTLSeconds = leaseTTLSeconds
        self.renewMarginSeconds = renewMarginSeconds
        self.retryMaxSeconds = retryMaxSeconds
    }

    /// The keys of the backend configuration object.
    static let keys = ["etcd", "etcdEndpoints", "etcdCAFile", "etcdCertFile", "etcdKeyFile", "etcdPrefix", "iface",
                       "publicIP", "subnetFile", "ipMasq", "forwardRules", "bridge", "ipamDataDir", "leaseTTLSeconds",
                       "renewMarginSeconds", "retryMaxSeconds"]

    /// The keys of the nested `etcd` object and the top-level keys they stand for.
    static let etcdKeys = [("endpoints", "etcdEndpoints"), ("caFile", "etcdCAFile"), ("certFile", "etcdCertFile"),
                           ("keyFile", "etcdKeyFile"), ("prefix", "etcdPrefix")]

    /// Reads the backend configuration object. `etcdEndpoints` (an array of
    /// URLs or one comma-separated string) is required. The etcd keys may
    /// also come nested, as `"etcd": {"endpoints": [...], "caFile": ...}`.
    /// Throws `FlannelError.invalidBackendConfig` naming the invalid key.
    public init(json original: JSONValue) throws {
        let members: [String: JSONValue]
        switch original {
        case .object(let object): members = object
        case .null: members = [:]
        default: throw FlannelError.invalidBackendConfig("the configuration must be a JSON object")
        }
        if let unknown = members.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw FlannelError.invalidBackendConfig(
                "unknown key \"\(unknown)\"; accepted keys: \(Self.keys.joined(separator: ", "))")
        }
        let json = try Self.flatteningEtcd(.object(members))

        func string(_ key: String) throws -> String? {
            switch json[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw FlannelError.invalidBackendConfig("\"\(key)\" must be a string")
            }
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            switch json[key] {
            case nil, .null?: return fallback
            case .bool(let value)?: return value
            default: throw FlannelError.invalidBackendConfig("\"\(key)\" must be true or false")
            }
        }
        func number(_ key: String, _ fallback: Double) throws -> Double {
            switch json[key] {
            case nil, .null?: return fallback
            case .integer(let value)?: return Double(value)
            case .double(let value)?: return value
            default: throw FlannelError.invalidBackendConfig("\"\(key)\" must be a number")
            }
        }

        var endpoints: [String] = []
        switch json["etcdEndpoints"] {
        case .string(let text)?:
            endpoints = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .array(let items)?:
            for item in items {
                guard let text = item.stringValue else {
                    throw FlannelError.invalidBackendConfig("\"etcdEndpoints\" entries must be strings")
                }
                endpoints.append(text)
            }
        default:
            break
        }
        guard !endpoints.isEmpty else {
            throw FlannelError.invalidBackendConfig("missing \"etcdEndpoints\", for example [\"https://10.0.0.5:2379\"]")
        }
        let etcd = EtcdConfiguration(endpoints: endpoints, caFile: try string("etcdCAFile"),
                                     certFile: try string("etcdCertFile"), keyFile: try string("etcdKeyFile"))
        if (etcd.certFile == nil) != (etcd.keyFile == nil) {
            throw FlannelError.invalidBackendConfig("\"etcdCertFile\" and \"etcdKeyFile\" must be set together")
        }

        self.init(etcd: etcd,
                  etcdPrefix: try string("etcdPrefix") ?? "/coreos.com/network",
                  interface: try string("iface") ?? "",
                  publicIP: try string("publicIP") ?? "",
                  subnetFile: try string("subnetFile") ?? "/run/hydra/flannel/subnet.env",
                  ipMasq: try bool("ipMasq", false),
                  forwardRules: try bool("forwardRules", true),
                  bridge: try string("bridge") ?? "hydra-flannel",
                  ipamDataDir: try string("ipamDataDir") ?? "",
                  leaseTTLSeconds: Int64(try number("leaseTTLSeconds", 86_400)),
                  renewMarginSeconds: Int64(try number("renewMarginSeconds", 3_600)),
                  retryMaxSeconds: try number("retryMaxSeconds", 30))
        guard etcdPrefix.hasPrefix("/") else {
            throw FlannelError.invalidBackendConfig("\"etcdPrefix\" must start with \"/\", got \"\(etcdPrefix)\"")
        }
        guard bridge.utf8.count <= 15, !bridge.isEmpty else {
            throw FlannelError.invalidBackendConfig("\"bridge\" must be 1 to 15 bytes, got \"\(bridge)\"")
        }
        guard leaseTTLSeconds > renewMarginSeconds, renewMarginSeconds > 0 else {
            throw FlannelError.invalidBackendConfig(
                "\"renewMarginSeconds\" (\(renewMarginSeconds)) must be positive and less than \"leaseTTLSeconds\" (\(leaseTTLSeconds))")
        }
    }

    /// Returns `json` with the members of a nested `etcd` object moved to
    /// their top-level keys (`endpoints` to `etcdEndpoints`, ...).
    static func flatteningEtcd(_ json: JSONValue) throws -> JSONValue {
        guard let nested = json["etcd"], nested != .null else { return json }
        guard case .object(let members) = nested else {
            throw FlannelError.invalidBackendConfig("\"etcd\" must be an object such as {\"endpoints\": [\"https://10.0.0.5:2379\"]}")
        }
        let accepted = etcdKeys.map(\.0)
        if let unknown = members.keys.sorted().first(where: { !accepted.contains($0) }) {
            throw FlannelError.invalidBackendConfig(
                "unknown key \"etcd.\(unknown)\"; accepted keys: \(accepted.joined(separator: ", "))")
        }
        var flat = json
        for (key, topLevel) in etcdKeys {
            guard let value = members[key] else { continue }
            if json[topLevel] != nil {
                throw FlannelError.invalidBackendConfig("\"etcd.\(key)\" and \"\(topLevel)\" are both set; set one of them")
            }
            flat[topLevel] = value
        }
        return flat
    }
}
