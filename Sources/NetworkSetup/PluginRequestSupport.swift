import CNI

/// Helpers that turn the parts of a backend request into what CNI plugins
/// and IPAM expect.
public enum PluginRequestSupport {
    /// Formats CNI_ARGS as "KEY=VALUE;KEY=VALUE", keys sorted so the text is stable.
    public static func cniArgs(_ args: [String: String]) -> String {
        args.keys.sorted().map { "\($0)=\(args[$0]!)" }.joined(separator: ";")
    }

    /// Returns the configuration an IPAM plugin receives: the network
    /// configuration with the request's `runtimeConfig` injected as libcni does
    /// for capability arguments, and `prevResult` for CHECK.
    public static func ipamConfig(config: JSONValue, runtimeConfig: [String: JSONValue],
                                  prevResult: JSONValue? = nil) -> JSONValue {
        guard case .object(var members) = config else { return config }
        if !runtimeConfig.isEmpty {
            var merged = members["runtimeConfig"]?.objectValue ?? [:]
            for (key, value) in runtimeConfig { merged[key] = value }
            members["runtimeConfig"] = .object(merged)
        }
        if let prevResult { members["prevResult"] = prevResult }
        return .object(members)
    }

    /// Returns the MAC address requested for the pod interface, by the
    /// reference plugins' precedence: `runtimeConfig.mac`, then the
    /// configuration's `args.cni.mac`, then CNI_ARGS `MAC`.
    public static func requestedMAC(config: JSONValue, runtimeConfig: [String: JSONValue],
                                    args: [String: String]) -> String? {
        if let mac = runtimeConfig["mac"]?.stringValue, !mac.isEmpty { return mac }
        if let mac = config["args"]?["cni"]?["mac"]?.stringValue, !mac.isEmpty { return mac }
        if let mac = args["MAC"], !mac.isEmpty { return mac }
        return nil
    }

    /// Returns the DNS settings of a configuration's `dns` key, or nil when none is set.
    public static func dns(of config: JSONValue) -> CNIResult.DNS? {
        guard let dns = config["dns"], dns.objectValue != nil else { return nil }
        let strings: (String) -> [String] = { key in dns[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let result = CNIResult.DNS(nameservers: strings("nameservers"), domain: dns["domain"]?.stringValue,
                                   search: strings("search"), options: strings("options"))
        return result.isEmpty ? nil : result
    }
}
