import Foundation
import HydraLog
import Kubernetes
import Orchestrator

/// Answers NetworkAttachmentDefinition lookups from the watch-fed cache.
struct CachedDefinitionSource: NetworkDefinitionSource {
    let cache: NetworkAttachmentDefinitionCache

    func networkAttachmentDefinition(namespace: String, name: String) async throws -> OrchestratorDefinition? {
        guard let entry = try await cache.lookup(namespace: namespace, name: name) else { return nil }
        return OrchestratorDefinition(namespace: entry.namespace, name: entry.name, config: entry.config ?? "")
    }
}

/// Hands network-status patches to the annotation queue.
struct QueuedStatusPublisher: PodStatusPublisher {
    let queue: AnnotationPatchQueue

    func enqueue(pod: OrchestratorPodReference, annotations: [String: String]) {
        let queue = self.queue
        let values = annotations.mapValues { Optional($0) }
        Task { await queue.enqueue(namespace: pod.namespace, name: pod.name, uid: pod.uid, annotations: values) }
    }
}

/// Posts pod Events, off the caller's path; a failure is logged and dropped.
struct ClientEventRecorder: PodEventRecorder {
    let client: KubernetesClient
    let node: String?
    let logger: Logger

    func record(pod: OrchestratorPodReference, type: PodEventType, reason: String, message: String) {
        let event = PodEvent(podNamespace: pod.namespace, podName: pod.name, podUID: pod.uid,
                             type: type == .warning ? .warning : .normal, reason: reason, message: message, node: node)
        let client = self.client
        let logger = self.logger
        Task {
            do {
                try await client.createEvent(event)
            } catch {
                // NOTE: PodEventRecorder passes no sandbox id, so this line names
                // the pod (and its UID) but not the sandbox.
                logger.warning("failed to record pod event",
                               [("pod", "\(pod.namespace)/\(pod.name)"), ("uid", pod.uid), ("reason", reason),
                                ("error", "\(error)")])
            }
        }
    }
}

/// The Kubernetes pieces a running daemon uses.
struct KubernetesAccess {
    let client: KubernetesClient
    let cache: NetworkAttachmentDefinitionCache
    let queue: AnnotationPatchQueue

    /// Builds the client from the configuration: an explicit server with
    /// optional token and CA files, or the in-cluster service account.
    static func make(_ settings: KubernetesSettings, logger: Logger) throws -> KubernetesAccess {
        var configuration: ClientConfiguration
        if settings.server.isEmpty {
            configuration = try ClientConfiguration.inCluster()
        } else {
            configuration = try ClientConfiguration(serverURL: settings.server)
        }
        if !settings.tokenFile.isEmpty { configuration.token = .file(settings.tokenFile) }
        if !settings.caFile.isEmpty { configuration.caFile = settings.caFile }

        let client = try KubernetesClient(configuration: configuration, logger: logger.component("kubernetes"))
        let cache = NetworkAttachmentDefinitionCache(client: client, logger: logger.component("nad-cache"),
                                                     lookupTimeout: .milliseconds(Int64(settings.lookupTimeoutMilliseconds)))
        let queue = AnnotationPatchQueue(client: client, logger: logger.component("annotation-queue"))
        return KubernetesAccess(client: client, cache: cache, queue: queue)
    }
}
