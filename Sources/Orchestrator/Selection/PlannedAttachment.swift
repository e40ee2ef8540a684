import CNI

/// One network to attach to a pod, resolved and ready for the runner.
public struct PlannedAttachment: Sendable, Equatable {
    /// The network's name: a local network, or the NetworkAttachmentDefinition's name.
    public var network: String
    /// Namespace of the NetworkAttachmentDefinition; nil for a local network.
    public var definitionNamespace: String?
    /// Interface name inside the pod.
    public var interface: String
    /// CNI configuration (single plugin or plugin list), with `name` set and
    /// the element's `cni-args` merged into `args.cni`.
    public var config: JSONValue
    /// CNI runtime config from the element's keys (`ips`, `mac`, …).
    public var runtimeConfig: [String: JSONValue]
    /// Gateways for the pod's default route; empty leaves routes alone.
    public var defaultRoute: [String]
    /// The reason the pod gets this network.
    public var origin: Origin

    public enum Origin: Sendable, Equatable {
        /// The default rule of a local network matched the pod.
        case defaultRule
        /// Element at this 1-based position of the selection annotation.
        case annotation(position: Int)
    }

    public init(network: String, definitionNamespace: String?, interface: String, config: JSONValue,
                runtimeConfig: [String: JSONValue] = [:], defaultRoute: [String] = [], origin: Origin) {
        self.network = network
        self.definitionNamespace = definitionNamespace
        self.interface = interface
        self.config = config
        self.runtimeConfig = runtimeConfig
        self.defaultRoute = defaultRoute
        self.origin = origin
    }

    /// One line for `hydra explain`, for example
    /// `net1 team-a/macvlan-conf type=macvlan (annotation element 1)`.
    public var summary: String {
        let types: String
        if let plugins = config["plugins"]?.arrayValue {
            types = plugins.compactMap { $0["type"]?.stringValue }.joined(separator: ",")
        } else {
            types = config["type"]?.stringValue ?? ""
        }
        var line = "\(interface) \(statusName) type=\(types)"
        switch origin {
        case .defaultRule: line += " (default rule)"
        case .annotation(let position): line += " (annotation element \(position))"
        }
        if !defaultRoute.isEmpty { line += " default-route=\(defaultRoute.joined(separator: ","))" }
        return line
    }

    /// `name` in the network-status list: `namespace/network` for a
    /// NetworkAttachmentDefinition, the bare name for a local network.
    public var statusName: String {
        definitionNamespace.map { "\($0)/\(network)" } ?? network
    }
}
