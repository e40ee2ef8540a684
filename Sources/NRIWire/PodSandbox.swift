/// A Linux namespace of a pod sandbox, as the runtime reports it.
public struct LinuxNamespace: Sendable, Equatable, Codable {
    /// `network`, `pid`, `ipc`, `uts`, `mount`, …
    public var type: String
    /// Path of the namespace file; empty when the runtime sends none.
    public var path: String

    public init(type: String, path: String) {
        self.type = type
        self.path = path
    }
}

/// The pod sandbox fields Hydra uses from NRI's `PodSandbox` message.
public struct PodSandbox: Sendable, Equatable, Codable {
    /// Sandbox id, the same id the default CNI received as CNI_CONTAINERID.
    public var id: String
    public var name: String
    public var uid: String
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var runtimeHandler: String
    public var namespaces: [LinuxNamespace]
    public var pid: UInt32
    /// The pod's IP addresses from the default network. Runtimes send them
    /// from NRI v0.8 on; older ones leave the list empty.
    public var ips: [String]

    public init(id: String, name: String = "", uid: String = "", namespace: String = "",
                labels: [String: String] = [:], annotations: [String: String] = [:],
                runtimeHandler: String = "", namespaces: [LinuxNamespace] = [],
                pid: UInt32 = 0, ips: [String] = []) {
        self.id = id
        self.name = name
        self.uid = uid
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.runtimeHandler = runtimeHandler
        self.namespaces = namespaces
        self.pid = pid
        self.ips = ips
    }

    /// Path of the pod's network namespace, or nil for a host-network pod
    /// (no `network` entry, or one without a path).
    public var networkNamespacePath: String? {
        guard let entry = namespaces.first(where: { $0.type == "network" }), !entry.path.isEmpty else {
            return nil
        }
        return entry.path
    }
}
