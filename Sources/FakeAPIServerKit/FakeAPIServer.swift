import Foundation

/// An in-memory Kubernetes API server for tests and the demo, serving the
/// calls Hydra makes with the public API's paths and object shapes. It covers
/// pods (get, list, create, merge patch, delete), events (create, list) and
/// `k8s.cni.cncf.io/v1` NetworkAttachmentDefinitions (get, list, watch,
/// create, delete). Fault injection and the record of received requests live
/// under `/debug/`. It speaks plain HTTP on loopback only.
// NOTE: objects are not validated beyond metadata.name and namespace, PATCH
// accepts only merge patches, and list requests ignore `limit` and selectors.
public final class FakeAPIServer: @unchecked Sendable {
    /// Objects the server starts with, as in a `--seed` file:
    /// `{"pods": [...], "networkAttachmentDefinitions": [...]}`.
    public struct Seed: Codable, Sendable {
        public var pods: [JSONValue]?
        public var networkAttachmentDefinitions: [JSONValue]?

        public init(pods: [JSONValue]? = nil, networkAttachmentDefinitions: [JSONValue]? = nil) {
            self.pods = pods
            self.networkAttachmentDefinitions = networkAttachmentDefinitions
        }
    }

    /// One change of a NetworkAttachmentDefinition, kept for watches.
    struct WatchRecord {
        var resourceVersion: Int
        var type: String
        var object: JSONValue
    }

    /// Lock of every field below. Watches wait on it for new records.
    let state = NSCondition()
    var pods: [String: JSONValue] = [:]
    var networkAttachmentDefinitions: [String: JSONValue] = [:]
    var events: [JSONValue] = []
    var history: [WatchRecord] = []
    /// Watches from a resourceVersion below this get 410 Gone, as after etcd compaction.
    var oldestWatchableVersion = 0
    var resourceVersion = 0
    var faults: [FaultRule] = []
    var recorded: [RecordedRequest] = []
    var requiredToken: String?
    var stopping = false

    private var server: HTTPServer?
    private let listenHost: String

    /// Creates a server holding `seed`. Throws when a seed object lacks
    /// `metadata.name` or `metadata.namespace`.
    public init(seed: Seed = Seed(), host: String = "127.0.0.1") throws {
        self.listenHost = host
        for pod in seed.pods ?? [] {
            _ = try insert(pod, kind: "Pod")
        }
        for definition in seed.networkAttachmentDefinitions ?? [] {
            _ = try insert(definition, kind: "NetworkAttachmentDefinition")
        }
    }

    /// Reads a seed file.
    public static func loadSeed(path: String) throws -> Seed {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FakeAPIServerError.invalidSeed("failed to read seed file \"\(path)\"")
        }
        do {
            return try JSONDecoder().decode(Seed.self, from: data)
        } catch {
            throw FakeAPIServerError.invalidSeed("invalid seed file \"\(path)\": \(error)")
        }
    }

    // MARK: Lifecycle

    /// Starts serving on `port` of the loopback address (0 picks a free
    /// port) and returns the base URL, such as `http://127.0.0.1:41234`.
    @discardableResult
    public func start(port: UInt16 = 0) throws -> String {
        guard listenHost.hasPrefix("127.") else {
            throw FakeAPIServerError.socket(
                "refusing to listen on \"\(listenHost)\": the fake API server has no authentication, use a 127.x.x.x address")
        }
        let server = HTTPServer(host: listenHost, port: port) { [weak self] request in
            self?.handle(request) ?? .closeConnection
        }
        try server.start()
        self.server = server
        return url
    }

    /// The base URL clients use.
    public var url: String {
        "http://\(listenHost):\(server?.port ?? 0)"
    }

    /// Stops the server and ends open watches.
    public func stop() {
        state.lock()
        stopping = true
        state.broadcast()
        state.unlock()
        server?.stop()
    }

    /// Simulates an unreachable API server: closes the listening socket and
    /// every open connection, so connections are refused, until
    /// `setDown(false)` listens on the same port again.
    public func setDown(_ down: Bool) throws {
        guard let server else { return }
        if down {
            server.suspendListening()
        } else {
            try server.start()
        }
    }

    // MARK: Test controls

    /// Adds a fault rule; rules are checked in the order added.
    public func addFault(_ rule: FaultRule) {
        state.lock()
        faults.append(rule)
        state.unlock()
    }

    /// Removes every fault rule.
    public func clearFaults() {
        state.lock()
        faults.removeAll()
        state.unlock()
    }

    /// Makes the server return 401 unless the request carries
    /// `Authorization: Bearer <token>`; nil accepts any request.
    public func requireToken(_ token: String?) {
        state.lock()
        requiredToken = token
        state.unlock()
    }

    /// Requests received so far, oldest first, without `/debug/` requests.
    public func receivedRequests() -> [RecordedRequest] {
        state.lock()
        defer { state.unlock() }
        return recorded
    }

    /// Forgets the recorded requests.
    public func clearReceivedRequests() {
        state.lock()
        recorded.removeAll()
        state.unlock()
    }

    /// Creates a pod with `annotations` and returns its generated UID.
    @discardableResult
    public func createPod(namespace: String, name: String, annotations: [String: String] = [:]) throws -> String {
        let pod: JSONValue = .object([
            "apiVersion": .string("v1"),
            "kind": .string("Pod"),
            "metadata": .object([
                "name": .string(name),
                "namespace": .string(namespace),
                "annotations": .object(annotations.mapValues { .string($0) }),
            ]),
            "spec": .object(["containers": .array([])]),
        ])
        state.lock()
        defer { state.unlock() }
        let stored = try insert(pod, kind: "Pod")
        return stored["metadata"]?["uid"]?.stringValue ?? ""
    }

    /// Deletes a pod, as if it had been removed from the cluster.
    public func deletePod(namespace: String, name: String) {
        state.lock()
        pods.removeValue(forKey: "\(namespace)/\(name)")
        state.unlock()
    }

    /// Returns the stored pod, nil when it does not exist.
    public func pod(namespace: String, name: String) -> JSONValue? {
        state.lock()
        defer { state.unlock() }
        return pods["\(namespace)/\(name)"]
    }

    /// Returns the annotations of a stored pod.
    public func podAnnotations(namespace: String, name: String) -> [String: String] {
        guard case .object(let members)? = pod(namespace: namespace, name: name)?["metadata"]?["annotations"] else {
            return [:]
        }
        return members.compactMapValues { $0.stringValue }
    }

    /// Events created so far.
    public func createdEvents() -> [JSONValue] {
        state.lock()
        defer { state.unlock() }
        return events
    }

    /// Creates or replaces a NetworkAttachmentDefinition whose `spec.config`
    /// is `config`, and notifies watches.
    public func putNetworkAttachmentDefinition(namespace: String, name: String, config: String) throws {
        let object: JSONValue = .object([
            "apiVersion": .string("k8s.cni.cncf.io/v1"),
            "kind": .string("NetworkAttachmentDefinition"),
            "metadata": .object(["name": .string(name), "namespace": .string(namespace)]),
            "spec": .object(["config": .string(config)]),
        ])
        state.lock()
        defer { state.unlock() }
        _ = try insert(object, kind: "NetworkAttachmentDefinition")
    }

    /// Forgets the watch history, as etcd compaction does, so a watch from
    /// an older resourceVersion ends with a 410 Gone ERROR event.
    public func compactWatchHistory() {
        state.lock()
        history.removeAll()
        oldestWatchableVersion = resourceVersion
        state.unlock()
    }

    /// Deletes a NetworkAttachmentDefinition and notifies watches.
    public func deleteNetworkAttachmentDefinition(namespace: String, name: String) {
        state.lock()
        defer { state.unlock() }
        _ = removeNetworkAttachmentDefinition(key: "\(namespace)/\(name)")
    }

    // MARK: Store (callers hold `state`)

    /// Stores a new or replaced object, filling in uid, resourceVersion and
    /// creationTimestamp, and records a watch event for NetworkAttachmentDefinitions.
    func insert(_ object: JSONValue, kind: String) throws -> JSONValue {
        guard let name = object["metadata"]?["name"]?.stringValue, !name.isEmpty,
              let namespace = object["metadata"]?["namespace"]?.stringValue, !namespace.isEmpty else {
            throw FakeAPIServerError.invalidSeed("\(kind) without metadata.name and metadata.namespace: "
                                                 + String(decoding: object.serialized(), as: UTF8.self))
        }
        let key = "\(namespace)/\(name)"
        let existing = kind == "Pod" ? pods[key] : networkAttachmentDefinitions[key]

        var stored = object
        var metadata = object["metadata"] ?? .object([:])
        resourceVersion += 1
        metadata["resourceVersion"] = .string(String(resourceVersion))
        if let uid = existing?["metadata"]?["uid"] {
            metadata["uid"] = uid
        } else if metadata["uid"]?.stringValue == nil {
            metadata["uid"] = .string(UUID().uuidString.lowercased())
        }
        if metadata["creationTimestamp"] == nil {
            metadata["creationTimestamp"] = .string(Self.timestamp())
        }
        stored["metadata"] = metadata

        if kind == "Pod" {
            pods[key] = stored
        } else {
            networkAttachmentDefinitions[key] = stored
            history.append(WatchRecord(resourceVersion: resourceVersion,
                                       type: existing == nil ? "ADDED" : "MODIFIED", object: stored))
            state.broadcast()
        }
        return stored
    }

    func removeNetworkAttachmentDefinition(key: String) -> JSONValue? {
        guard var removed = networkAttachmentDefinitions.removeValue(forKey: key) else { return nil }
        resourceVersion += 1
        removed["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        history.append(WatchRecord(resourceVersion: resourceVersion, type: "DELETED", object: removed))
        state.broadcast()
        return removed
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
