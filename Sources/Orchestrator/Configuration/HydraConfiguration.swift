import CNI
import HydraLog

/// Hydra's whole configuration: the JSON file passed with `--config`, or the
/// NRI Configure `config` string, which replaces the file entirely.
/// Every field has a default, so `{}` is a valid configuration.
/// docs/configuration.md documents each field.
public struct HydraConfiguration: Sendable, Equatable {
    public var nri = NRISettings()
    public var backends = BackendSettings()
    /// Directory of the per-sandbox records.
    public var stateDir = "/var/lib/hydra"
    public var networks: [NetworkDefinition] = []
    public var annotations = AnnotationSettings()
    public var isolation = IsolationSettings()
    public var reconcile = ReconcileSettings()
    public var kubernetes = KubernetesSettings()
    public var metrics = MetricsSettings()
    public var log = LogSettings()

    public init() {}

    /// Returns the local network definition named `name`, if any.
    public func network(named name: String) -> NetworkDefinition? {
        networks.first { $0.name == name }
    }
}

/// The NRI socket Hydra connects to and the name and index it registers with.
public struct NRISettings: Sendable, Equatable {
    public var socket = "/var/run/nri/nri.sock"
    public var pluginName = "hydra"
    /// Two decimal digits; the runtime orders plugins by this index.
    public var pluginIndex = "50"
    public init() {}
}

/// The backend libraries the host loads at start-up.
public struct BackendSettings: Sendable, Equatable {
    /// Directory searched for `libhydra-backend-<name>.so`.
    public var dir = "/usr/lib/hydra/backends"
    public var load: [BackendLoad] = []
    public init() {}
}

/// One backend to load and the JSON handed to its init function.
public struct BackendLoad: Sendable, Equatable {
    public var name: String
    /// Explicit library path; nil means `<dir>/libhydra-backend-<name>.so`.
    public var path: String?
    /// When true, Hydra refuses to start if the backend fails to load.
    public var required: Bool
    public var config: JSONValue

    public init(name: String, required: Bool = false, config: JSONValue = .object([:])) {
        self.name = name
        self.required = required
        self.config = config
    }
}

/// A network a pod can be attached to, defined in Hydra's configuration.
public struct NetworkDefinition: Sendable, Equatable {
    public var name: String
    /// Interface name inside the pod; nil means `net1`, `net2`, … in order.
    public var interface: String?
    /// Pods that get this network without asking for it; nil means none.
    public var defaultRule: DefaultRule?
    /// CNI configuration: a single plugin, or a plugin list with `plugins`.
    /// The `type` of each plugin picks the native backend or CNI binary.
    public var config: JSONValue

    public init(name: String, interface: String? = nil, defaultRule: DefaultRule? = nil, config: JSONValue) {
        self.name = name
        self.interface = interface
        self.defaultRule = defaultRule
        self.config = config
    }
}

/// The pods a default network applies to: a pod matches when its namespace
/// is listed (or the list contains `*`) and it carries every listed label
/// with the listed value.
public struct DefaultRule: Sendable, Equatable {
    public var namespaces: [String]
    public var labels: [String: String]

    public init(namespaces: [String] = ["*"], labels: [String: String] = [:]) {
        self.namespaces = namespaces
        self.labels = labels
    }

    /// Returns true when a pod in `namespace` with `podLabels` matches.
    public func matches(namespace: String, podLabels: [String: String]) -> Bool {
        guard namespaces.contains("*") || namespaces.contains(namespace) else { return false }
        return labels.allSatisfy { podLabels[$0.key] == $0.value }
    }
}

/// Annotation keys Hydra reads and writes, and the default network's entry
/// in the network-status list.
public struct AnnotationSettings: Sendable, Equatable {
    /// The pod annotation that names extra networks.
    public var selection = "k8s.v1.cni.cncf.io/networks"
    /// The pod annotation Hydra writes the network-status list to.
    public var status = "k8s.v1.cni.cncf.io/network-status"
    /// Also write `hydra.clusternet.io.<network>` with each network's CNI result.
    public var perNetworkResults = false
    /// `name` of the default network's entry in the network-status list.
    public var defaultNetworkName = "default"
    /// Interface the default CNI creates in the pod.
    public var defaultInterface = "eth0"
    public init() {}
}

/// Whether a pod may use network definitions from another namespace.
public struct IsolationSettings: Sendable, Equatable {
    /// When false, any namespace may be referenced.
    public var enabled = false
    /// Namespaces every pod may reference even when isolation is enabled.
    public var allowedNamespaces: [String] = []
    public init() {}

    /// Returns true when a pod in `podNamespace` may use a definition in `target`.
    public func allows(podNamespace: String, target: String) -> Bool {
        !enabled || podNamespace == target || allowedNamespaces.contains(target)
    }
}

/// The periodic reconcile pass.
public struct ReconcileSettings: Sendable, Equatable {
    /// Seconds between passes; 0 disables the periodic pass (Synchronize
    /// still reconciles).
    public var intervalSeconds = 60
    /// Attach networks to running pods that have none recorded (they started
    /// while Hydra was away). When false, such pods get a Warning Event.
    public var attachMissing = true
    public init() {}
}

/// Kubernetes API access: NetworkAttachmentDefinitions, status patches and Events.
public struct KubernetesSettings: Sendable, Equatable {
    public var enabled = false
    /// API server URL; empty means the in-cluster configuration
    /// (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`).
    public var server = ""
    /// Bearer token file; empty means the service account token.
    public var tokenFile = ""
    /// CA bundle for the server certificate; empty means the service account CA.
    public var caFile = ""
    /// Maximum time the attach path waits for a NetworkAttachmentDefinition
    /// missing from the cache, in milliseconds.
    public var lookupTimeoutMilliseconds = 250
    public init() {}
}

/// The metrics and health endpoint.
public struct MetricsSettings: Sendable, Equatable {
    /// `host:port` to listen on; empty disables the endpoint.
    public var listen = "127.0.0.1:9740"
    public init() {}
}

/// Log output.
public struct LogSettings: Sendable, Equatable {
    /// `debug`, `info`, `warn` (or `warning`), `error`.
    public var level = "info"
    /// `logfmt` or `json`.
    public var format = "logfmt"
    public init() {}

    /// The level as HydraLog's type; `info` for a value validation would reject.
    public var logLevel: LogLevel { LogLevel(name: level) ?? .info }

    /// The format as HydraLog's type; `logfmt` for a value validation would reject.
    public var logFormat: LogFormat { LogFormat(rawValue: format) ?? .logfmt }
}
