import CNI

/// One network a pod requests in its selection annotation, in the Network
/// Plumbing Working Group's "Kubernetes Network Custom Resource Definition
/// De-facto Standard" (v1.2, section 4.1.2.1). The short form
/// `[namespace/]name[@interface]` sets only the first three fields.
public struct NetworkSelectionElement: Sendable, Equatable {
    public var name: String
    /// Namespace of the NetworkAttachmentDefinition; nil means the pod's.
    public var namespace: String?
    public var interface: String?
    /// Requested addresses, each with or without prefix length (runtime config `ips`).
    public var ips: [String]
    /// Requested MAC address (runtime config `mac`).
    public var mac: String?
    /// Gateways for the pod's default route through this network; empty
    /// leaves routes as the backend set them.
    public var defaultRoute: [String]
    /// Object merged into the configuration's `args.cni`.
    public var cniArgs: [String: JSONValue]?
    /// Runtime config `portMappings`, passed through unchanged.
    public var portMappings: JSONValue?
    /// Runtime config `bandwidth`, passed through unchanged.
    public var bandwidth: JSONValue?
    /// Runtime config `infinibandGUID`.
    public var infinibandGUID: String?

    public init(name: String, namespace: String? = nil, interface: String? = nil, ips: [String] = [],
                mac: String? = nil, defaultRoute: [String] = [], cniArgs: [String: JSONValue]? = nil,
                portMappings: JSONValue? = nil, bandwidth: JSONValue? = nil, infinibandGUID: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.interface = interface
        self.ips = ips
        self.mac = mac
        self.defaultRoute = defaultRoute
        self.cniArgs = cniArgs
        self.portMappings = portMappings
        self.bandwidth = bandwidth
        self.infinibandGUID = infinibandGUID
    }

    /// The CNI runtime config (`runtimeConfig` in libcni terms, filtered by
    /// each plugin's `capabilities`) that the element's keys map to.
    public var runtimeConfig: [String: JSONValue] {
        var config: [String: JSONValue] = [:]
        if !ips.isEmpty { config["ips"] = .array(ips.map { .string($0) }) }
        if let mac { config["mac"] = .string(mac) }
        if let portMappings { config["portMappings"] = portMappings }
        if let bandwidth { config["bandwidth"] = bandwidth }
        if let infinibandGUID { config["infinibandGUID"] = .string(infinibandGUID) }
        return config
    }
}

/// A problem with one element of a selection annotation.
public struct SelectionProblem: Sendable, Equatable, CustomStringConvertible {
    /// 1-based position of the element; 0 for the annotation as a whole.
    public var position: Int
    /// The element as written (short form) or its `name` (JSON form).
    public var element: String
    public var message: String

    public init(position: Int, element: String, message: String) {
        self.position = position
        self.element = element
        self.message = message
    }

    public var description: String {
        position == 0 ? message : "element \(position) (\"\(element)\"): \(message)"
    }
}
