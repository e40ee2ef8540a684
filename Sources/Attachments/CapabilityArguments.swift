import CNI

/// Runtime configuration ("capability arguments") filtered per plugin, as
/// libcni's injectRuntimeConfig does: a plugin receives a key only when its
/// `capabilities` declares it.
enum CapabilityArguments {
    /// The keys the Network Plumbing Working Group's multi-network
    /// specification makes mandatory: an attachment that requests one of
    /// them fails when no plugin in the chain declares it, instead of
    /// silently running without it.
    static let mandatory = ["ips", "mac", "portMappings", "bandwidth"]

    /// Native backend types that receive `ips` and `mac` without a
    /// `capabilities` entry. The reference `bridge` and `macvlan` plugins
    /// read the same keys, but libcni passes them only when declared.
    static let nativeTypesAcceptingAddresses: Set<String> = ["bridge", "macvlan"]

    /// Returns the capabilities a plugin accepts. For a native backend that is the
    /// declared set plus `ips` and `mac` on bridge and macvlan, and `ips`
    /// with host-local IPAM.
    static func accepted(by plugin: ChainPlugin, isNative: Bool) -> Set<String> {
        var accepted = plugin.capabilities
        guard isNative else { return accepted }
        if nativeTypesAcceptingAddresses.contains(plugin.type) {
            accepted.formUnion(["ips", "mac"])
        }
        if plugin.config["ipam"]?["type"]?.stringValue == "host-local" {
            accepted.insert("ips")
        }
        return accepted
    }

    /// Returns the runtimeConfig keys of `runtimeConfig` that `accepted` contains.
    static func filter(_ runtimeConfig: [String: JSONValue], accepted: Set<String>) -> [String: JSONValue] {
        runtimeConfig.filter { accepted.contains($0.key) }
    }

    /// Throws when the request carries a mandatory key with a value that no
    /// plugin of the chain accepts.
    static func validate(_ runtimeConfig: [String: JSONValue], acceptedPerPlugin: [Set<String>],
                         network: String) throws(CNIError) {
        for key in mandatory {
            guard let value = runtimeConfig[key], isRequested(value) else { continue }
            if acceptedPerPlugin.contains(where: { $0.contains(key) }) { continue }
            throw CNIError(code: CNIError.unsupportedField,
                           msg: "network \"\(network)\": the attachment requests \"\(key)\" but no plugin in the chain declares the \"\(key)\" capability",
                           details: "requested \(key): \(value.encodedString())")
        }
    }

    /// Returns false for a null, empty list, empty object or empty string.
    private static func isRequested(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .array(let items): return !items.isEmpty
        case .object(let members): return !members.isEmpty
        case .string(let text): return !text.isEmpty
        default: return true
        }
    }
}
