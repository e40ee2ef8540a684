import Foundation
import HydraLog

/// A small Kubernetes API client over libcurl: pods, events and
/// NetworkAttachmentDefinitions, the calls Hydra's RBAC role allows.
public final class KubernetesClient: Sendable {
    public let configuration: ClientConfiguration
    let transport: CurlTransport
    let tokenSource: BearerTokenSource
    let logger: Logger

    /// API group path of NetworkAttachmentDefinitions.
    static let networkAttachmentDefinitionsGroup = "/apis/k8s.cni.cncf.io/v1"
    /// Page size of list requests.
    static let listPageSize = 500

    public init(configuration: ClientConfiguration, logger: Logger = Logger(component: "kubernetes")) {
        self.configuration = configuration
        self.transport = CurlTransport(caFile: configuration.usesTLS ? configuration.caFile : nil,
                                       userAgent: configuration.userAgent,
                                       connectTimeout: KubernetesTimeouts.connect)
        self.tokenSource = BearerTokenSource(configuration.token)
        self.logger = logger
    }

    // MARK: Pods

    /// Reads a pod: `GET /api/v1/namespaces/{namespace}/pods/{name}`.
    public func getPod(namespace: String, name: String,
                       timeout: Duration = KubernetesTimeouts.request) async throws -> Pod {
        let path = "/api/v1/namespaces/\(Self.escape(namespace))/pods/\(Self.escape(name))"
        return try await send(method: "GET", path: path, timeout: timeout)
    }

    /// Merges `annotations` into the pod's `metadata.annotations` with a JSON
    /// merge patch (RFC 7386); a nil value removes that key. When `uid` is
    /// given it goes into the patch as `metadata.uid`, which the API server
    /// treats as a precondition and returns 409 if the pod was replaced.
    public func patchPodAnnotations(namespace: String, name: String, uid: String?,
                                    annotations: [String: String?],
                                    timeout: Duration = KubernetesTimeouts.request) async throws -> Pod {
        var metadata: [String: Any] = [
            "annotations": annotations.mapValues { value -> Any in value ?? NSNull() },
        ]
        if let uid {
            metadata["uid"] = uid
        }
        let body = try JSONSerialization.data(withJSONObject: ["metadata": metadata], options: [.sortedKeys])
        let path = "/api/v1/namespaces/\(Self.escape(namespace))/pods/\(Self.escape(name))"
        return try await send(method: "PATCH", path: path, body: body,
                              contentType: "application/merge-patch+json", timeout: timeout)
    }

    // MARK: Events

    /// Records `event`: `POST /api/v1/namespaces/{namespace}/events`.
    public func createEvent(_ event: PodEvent, timeout: Duration = KubernetesTimeouts.request) async throws {
        let body = try event.requestBody()
        let path = "/api/v1/namespaces/\(Self.escape(event.podNamespace))/events"
        _ = try await sendRaw(method: "POST", path: path, body: body, contentType: "application/json",
                              timeout: timeout)
    }

    // MARK: NetworkAttachmentDefinitions

    /// Reads one NetworkAttachmentDefinition:
    /// `GET /apis/k8s.cni.cncf.io/v1/namespaces/{namespace}/network-attachment-definitions/{name}`.
    public func getNetworkAttachmentDefinition(namespace: String, name: String,
                                               timeout: Duration = KubernetesTimeouts.request) async throws
        -> NetworkAttachmentDefinition {
        let path = Self.networkAttachmentDefinitionsPath(namespace: namespace) + "/" + Self.escape(name)
        return try await send(method: "GET", path: path, timeout: timeout)
    }

    /// Lists NetworkAttachmentDefinitions of `namespace`, or of every
    /// namespace when nil, following `continue` tokens across pages. The
    /// returned list's resourceVersion is the one to start a watch from.
    public func listNetworkAttachmentDefinitions(namespace: String?,
                                                 timeout: Duration = KubernetesTimeouts.request) async throws
        -> ObjectList<NetworkAttachmentDefinition> {
        let basePath = Self.networkAttachmentDefinitionsPath(namespace: namespace)
        var items: [NetworkAttachmentDefinition] = []
        var continueToken: String?
        while true {
            var query = "?limit=\(Self.listPageSize)"
            if let continueToken {
                query += "&continue=" + Self.escape(continueToken)
            }
            let page: ObjectList<NetworkAttachmentDefinition> = try await send(method: "GET", path: basePath + query,
                                                                              timeout: timeout)
            items += page.items
            guard let next = page.metadata.continue, !next.isEmpty else {
                return ObjectList(metadata: page.metadata, items: items)
            }
            continueToken = next
        }
    }

    /// Watches NetworkAttachmentDefinitions of `namespace` (all namespaces
    /// when nil) from `resourceVersion`. The stream ends when the API server
    /// closes the watch (after `KubernetesTimeouts.watchServerSeconds`) and
    /// throws a `KubernetesError` when it cannot be started. Cancelling the
    /// consuming task aborts the transfer. The transfer runs on its own thread.
    public func watchNetworkAttachmentDefinitions(namespace: String?, resourceVersion: String?)
        -> AsyncThrowingStream<WatchEvent<NetworkAttachmentDefinition>, Error> {
        var query = "?watch=true&allowWatchBookmarks=true&timeoutSeconds=\(KubernetesTimeouts.watchServerSeconds)"
        if let resourceVersion, !resourceVersion.isEmpty {
            query += "&resourceVersion=" + Self.escape(resourceVersion)
        }
        let path = Self.networkAttachmentDefinitionsPath(namespace: namespace) + query
        return watch(path: path)
    }

    static func networkAttachmentDefinitionsPath(namespace: String?) -> String {
        guard let namespace else {
            return networkAttachmentDefinitionsGroup + "/network-attachment-definitions"
        }
        return networkAttachmentDefinitionsGroup + "/namespaces/\(escape(namespace))/network-attachment-definitions"
    }

    /// Percent-encodes one path segment or query value.
    static func escape(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
