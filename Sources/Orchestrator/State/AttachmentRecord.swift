import CNI

/// Everything the runner needs to attach one network to one sandbox.
public struct AttachmentRequest: Sendable, Equatable {
    public var sandboxID: String
    public var pod: PodReference
    public var netnsPath: String
    public var network: String
    /// Namespace of the NetworkAttachmentDefinition; nil for a local network.
    public var definitionNamespace: String?
    public var interface: String
    /// CNI configuration, single plugin or plugin list.
    public var config: JSONValue
    public var runtimeConfig: [String: JSONValue]
    /// Gateways for the pod's default route; empty leaves routes alone.
    public var defaultRoute: [String]
    /// `CNI_ARGS` pairs: `IgnoreUnknown`, `K8S_POD_NAMESPACE`, `K8S_POD_NAME`,
    /// `K8S_POD_INFRA_CONTAINER_ID` and `K8S_POD_UID`, as the kubelet's CNI
    /// code and Multus pass them.
    public var cniArgs: [String: String]

    public init(sandboxID: String, pod: PodReference, netnsPath: String, network: String,
                definitionNamespace: String?, interface: String, config: JSONValue,
                runtimeConfig: [String: JSONValue], defaultRoute: [String], cniArgs: [String: String]) {
        self.sandboxID = sandboxID
        self.pod = pod
        self.netnsPath = netnsPath
        self.network = network
        self.definitionNamespace = definitionNamespace
        self.interface = interface
        self.config = config
        self.runtimeConfig = runtimeConfig
        self.defaultRoute = defaultRoute
        self.cniArgs = cniArgs
    }

    /// Builds the request for one planned attachment of a pod.
    public init(plan: PlannedAttachment, sandboxID: String, pod: PodReference, netnsPath: String) {
        self.init(sandboxID: sandboxID, pod: pod, netnsPath: netnsPath, network: plan.network,
                  definitionNamespace: plan.definitionNamespace, interface: plan.interface, config: plan.config,
                  runtimeConfig: plan.runtimeConfig, defaultRoute: plan.defaultRoute,
                  cniArgs: [
                      "IgnoreUnknown": "1",
                      "K8S_POD_NAMESPACE": pod.namespace,
                      "K8S_POD_NAME": pod.name,
                      "K8S_POD_INFRA_CONTAINER_ID": sandboxID,
                      "K8S_POD_UID": pod.uid,
                  ])
    }

    /// The plugin `type`s of the configuration, comma-separated in plugin
    /// order: the backends or binaries that serve the network.
    public var backend: String {
        if let plugins = config["plugins"]?.arrayValue {
            return plugins.compactMap { $0["type"]?.stringValue }.joined(separator: ",")
        }
        return config["type"]?.stringValue ?? ""
    }

    /// Log fields naming the pod (`pod` as namespace/name) and the sandbox
    /// (`sandbox`) of this request.
    public var podLogFields: [(String, String)] {
        [("pod", "\(pod.namespace)/\(pod.name)"), ("sandbox", sandboxID)]
    }

    /// `name` in the network-status list: `namespace/network` for a
    /// NetworkAttachmentDefinition, the bare name for a local network.
    public var statusName: String {
        definitionNamespace.map { "\($0)/\(network)" } ?? network
    }
}

/// One attachment as stored in a sandbox's record: the request exactly as
/// it was run and, once the attach completed, its result. Detach needs
/// nothing else.
public struct AttachmentRecord: Sendable, Equatable {
    public var request: AttachmentRequest
    /// Backend or plugin types (see `AttachmentRequest.backend`).
    public var backend: String
    /// The CNI result; nil while the attach is in progress (an intent entry).
    public var result: CNIResult?

    public init(request: AttachmentRequest, result: CNIResult? = nil) {
        self.request = request
        self.backend = request.backend
        self.result = result
    }
}
