import Foundation
import HydraLog

/// The fields of a NetworkAttachmentDefinition that the attach path uses.
public struct NetworkAttachmentDefinitionEntry: Sendable, Equatable {
    public var namespace: String
    public var name: String
    /// `spec.config`: the CNI configuration as a JSON string, nil when empty.
    public var config: String?
}

/// NetworkAttachmentDefinitions by namespace and name, kept current by a
/// list followed by a watch, so a lookup from the attach path returns from
/// memory. A name missing from the cache is fetched with one GET bounded by
/// `lookupTimeout`, because a just-created object may not have arrived
/// through the watch yet.
public actor NetworkAttachmentDefinitionCache {
    /// Default bound of the GET made for a name missing from the cache.
    public static let defaultLookupTimeout: Duration = .milliseconds(500)

    private let client: KubernetesClient
    private let namespace: String?
    private let logger: Logger
    private let lookupTimeout: Duration
    private let backoff: RetryBackoff

    private var entries: [NamespacedName: NetworkAttachmentDefinitionEntry] = [:]
    private var resourceVersion: String?
    private var synced = false
    private var watcher: Task<Void, Never>?

    /// Creates a cache of the NetworkAttachmentDefinitions in `namespace`,
    /// or in every namespace when nil. Call `start()` to fill it.
    public init(client: KubernetesClient, namespace: String? = nil,
                logger: Logger = Logger(component: "nad-cache"),
                lookupTimeout: Duration = NetworkAttachmentDefinitionCache.defaultLookupTimeout,
                backoff: RetryBackoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(30))) {
        self.client = client
        self.namespace = namespace
        self.logger = logger
        self.lookupTimeout = lookupTimeout
        self.backoff = backoff
    }

    /// True once the first list has completed.
    public var isSynced: Bool { synced }

    /// Number of cached objects.
    public var count: Int { entries.count }

    /// Starts the list and watch loop in a background task.
    public func start() {
        guard watcher == nil else { return }
        watcher = Task { [weak self] in
            await self?.runListAndWatch()
        }
    }

    /// Stops the watch.
    public func stop() {
        watcher?.cancel()
        watcher = nil
    }

    /// Returns the definition `namespace/name`, or nil when the API server
    /// reports it does not exist. A cache miss waits at most `lookupTimeout`
    /// for a GET; a failed GET throws its `KubernetesError`.
    public func lookup(namespace: String, name: String) async throws -> NetworkAttachmentDefinitionEntry? {
        let key = NamespacedName(namespace: namespace, name: name)
        if let entry = entries[key] {
            return entry
        }
        do {
            let object = try await client.getNetworkAttachmentDefinition(namespace: namespace, name: name,
                                                                         timeout: lookupTimeout)
            guard let entry = Self.entry(object) else { return nil }
            // The watch may have stored a newer version meanwhile.
            if entries[key] == nil {
                entries[key] = entry
            }
            return entries[key]
        } catch let error as KubernetesError where error.isNotFound {
            return nil
        }
    }

    // MARK: List and watch

    private func runListAndWatch() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await list()
                failures = 0
                try await watchUntilEnd()
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                failures += 1
                let delay = backoff.delay(afterFailures: failures)
                logger.warning("NetworkAttachmentDefinition list or watch failed, retrying",
                               [("error", "\(error)"), ("retry_in", "\(delay)")])
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func list() async throws {
        let list = try await client.listNetworkAttachmentDefinitions(namespace: namespace)
        var fresh: [NamespacedName: NetworkAttachmentDefinitionEntry] = [:]
        for object in list.items {
            if let entry = Self.entry(object) {
                fresh[NamespacedName(namespace: entry.namespace, name: entry.name)] = entry
            }
        }
        entries = fresh
        resourceVersion = list.metadata.resourceVersion
        if !synced {
            logger.info("NetworkAttachmentDefinition cache synced", [("count", String(fresh.count))])
        }
        synced = true
    }

    /// Applies watch events, starting a new watch from the last
    /// resourceVersion whenever the API server ends one after its timeout.
    /// Throws on a failed watch (for example 410 Gone when that version is
    /// too old), so the caller lists again.
    private func watchUntilEnd() async throws {
        while !Task.isCancelled {
            let stream = client.watchNetworkAttachmentDefinitions(namespace: namespace,
                                                                  resourceVersion: resourceVersion)
            for try await event in stream {
                switch event {
                case .added(let object), .modified(let object):
                    store(object)
                case .deleted(let object):
                    if let entry = Self.entry(object) {
                        entries.removeValue(forKey: NamespacedName(namespace: entry.namespace, name: entry.name))
                    }
                    resourceVersion = object.metadata.resourceVersion ?? resourceVersion
                case .bookmark(let version):
                    resourceVersion = version ?? resourceVersion
                case .error(let status):
                    throw KubernetesError.rejected(request: "watch network-attachment-definitions",
                                                   httpStatus: status.code ?? 500, status: status)
                }
            }
        }
        throw CancellationError()
    }

    private func store(_ object: NetworkAttachmentDefinition) {
        if let entry = Self.entry(object) {
            entries[NamespacedName(namespace: entry.namespace, name: entry.name)] = entry
        }
        resourceVersion = object.metadata.resourceVersion ?? resourceVersion
    }

    private static func entry(_ object: NetworkAttachmentDefinition) -> NetworkAttachmentDefinitionEntry? {
        guard let name = object.metadata.name, let namespace = object.metadata.namespace else { return nil }
        let config = object.spec?.config.flatMap { $0.isEmpty ? nil : $0 }
        return NetworkAttachmentDefinitionEntry(namespace: namespace, name: name, config: config)
    }
}
