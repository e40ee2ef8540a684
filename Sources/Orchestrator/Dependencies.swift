import CNI

/// A NetworkAttachmentDefinition (`k8s.cni.cncf.io/v1`) as the orchestrator
/// needs it.
public struct NetworkAttachmentDefinition: Sendable, Equatable {
    public var namespace: String
    public var name: String
    /// `spec.config`: the CNI configuration as a JSON string.
    public var config: String

    public init(namespace: String, name: String, config: String) {
        self.namespace = namespace
        self.name = name
        self.config = config
    }
}

/// A lookup of NetworkAttachmentDefinitions. The implementation reads a
/// cache and bounds any wait itself, because the attach path calls it while
/// the runtime waits.
public protocol NetworkDefinitionSource: Sendable {
    /// Returns the definition, or nil when it does not exist. Throws when the
    /// lookup failed (for example, the API server is unreachable and the
    /// cache has no entry).
    func networkAttachmentDefinition(namespace: String, name: String) async throws -> NetworkAttachmentDefinition?
}

/// The pod an annotation patch or Event is about. The UID keeps a patch
/// from landing on a later pod with the same name.
public struct PodReference: Sendable, Equatable, Hashable {
    public var namespace: String
    public var name: String
    public var uid: String

    public init(namespace: String, name: String, uid: String) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }
}

/// Queues pod annotation patches. `enqueue` returns at once; the
/// implementation applies the patch later and retries it.
public protocol PodStatusPublisher: Sendable {
    /// Queues a JSON merge patch of the pod's `metadata.annotations` that
    /// sets each key to its value.
    func enqueue(pod: PodReference, annotations: [String: String])
}

/// Kubernetes Event types.
public enum PodEventType: String, Sendable {
    case normal = "Normal"
    case warning = "Warning"
}

/// Records pod Events. `record` returns at once.
public protocol PodEventRecorder: Sendable {
    func record(pod: PodReference, type: PodEventType, reason: String, message: String)
}

/// Runs attach, detach and check of one network for one sandbox. The host
/// implements it over the native backends and the CNI executor: for a
/// plugin list, each plugin goes to the backend serving its `type`, with
/// `prevResult` chained. After a successful attach with a non-empty
/// `defaultRoute`, the runner replaces the pod's default route with one
/// through those gateways on the attached interface.
public protocol AttachmentRunner: Sendable {
    /// Attaches (CNI ADD) and returns the final result. On failure the
    /// runner leaves cleanup to the caller, which calls `detach`.
    func attach(_ request: AttachmentRequest, deadline: ContinuousClock.Instant) async throws -> CNIResult

    /// Detaches (CNI DEL) using only the record: it must succeed when the
    /// network namespace or the interface is already gone, and it releases
    /// the addresses. `record.result` is nil for an attach that never
    /// completed.
    func detach(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws

    /// Verifies the attachment is still in place (CNI CHECK).
    func check(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws
}

/// Reads the default network's interface inside a pod's namespace, for
/// runtimes that do not send the pod's IPs (NRI before v0.8).
public protocol DefaultInterfaceInspector: Sendable {
    /// Returns the interface's addresses (without prefix length) and MAC.
    func inspect(netnsPath: String, interface: String) async throws -> (ips: [String], mac: String?)
}
