/// The `metadata` fields Hydra reads from Kubernetes objects. Unknown
/// fields in the API's JSON are ignored when decoding.
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var creationTimestamp: String?

    public init(name: String? = nil, namespace: String? = nil, uid: String? = nil,
                resourceVersion: String? = nil, labels: [String: String]? = nil,
                annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.labels = labels
        self.annotations = annotations
    }
}

/// One entry of a pod's `status.podIPs`.
public struct PodIP: Codable, Sendable, Equatable {
    public var ip: String
}

/// The `status` fields Hydra reads from a pod.
public struct PodStatus: Codable, Sendable, Equatable {
    public var phase: String?
    public var podIP: String?
    public var podIPs: [PodIP]?
}

/// A core/v1 Pod, reduced to metadata and the IP addresses.
public struct Pod: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
    public var status: PodStatus?
}

/// `spec` of a `k8s.cni.cncf.io/v1` NetworkAttachmentDefinition.
public struct NetworkAttachmentDefinitionSpec: Codable, Sendable, Equatable {
    /// The CNI configuration as a JSON string. The Network Plumbing Working
    /// Group specification lets it be empty when a file on the node contains it.
    public var config: String?

    public init(config: String?) {
        self.config = config
    }
}

/// A `k8s.cni.cncf.io/v1` NetworkAttachmentDefinition.
public struct NetworkAttachmentDefinition: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
    public var spec: NetworkAttachmentDefinitionSpec?

    public init(metadata: ObjectMeta, spec: NetworkAttachmentDefinitionSpec?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `metadata` of a list response.
public struct ListMeta: Codable, Sendable, Equatable {
    public var resourceVersion: String?
    /// Token for the next page when the list was requested with `limit`.
    public var `continue`: String?
}

/// A list response (`PodList`, `NetworkAttachmentDefinitionList`, ...).
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var metadata: ListMeta
    public var items: [Item]

    public init(metadata: ListMeta, items: [Item]) {
        self.metadata = metadata
        self.items = items
    }
}

/// One event of a watch stream.
public enum WatchEvent<Object: Decodable & Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// A progress marker that carries only a newer resourceVersion.
    case bookmark(resourceVersion: String?)
    /// The API server ended the watch with a Status, for example 410 Gone
    /// when the requested resourceVersion is too old.
    case error(APIStatus)
}

/// Raw shape of a watch event line: `{"type": ..., "object": {...}}`.
struct WatchEventType: Decodable {
    var type: String
}

struct WatchEventBody<Object: Decodable>: Decodable {
    var object: Object
}

/// The object of a BOOKMARK event, which only carries metadata.
struct BookmarkObject: Decodable {
    var metadata: ListMeta
}

/// Namespace and name of an object, as client-go's `types.NamespacedName`.
public struct NamespacedName: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(name)" }
}
