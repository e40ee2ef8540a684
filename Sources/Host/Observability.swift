import Attachments
import BackendHost
import Foundation
import HydraLog
import Kubernetes
import Metrics
import NRIPlugin
import Orchestrator

/// The running daemon's metrics and health endpoint: copies the NRI
/// connection state, the orchestrator's counters and the annotation
/// queue's statistics into `HydraMetrics`, and serves `/readyz` and `/status`.
final class Observability: Sendable {
    let metrics: HydraMetrics
    private let server: MetricsServer
    private let sampler: Task<Void, Never>

    /// How often the annotation queue's statistics are copied into the
    /// gauges. The queue is an actor, so a scrape cannot read it directly.
    static let queueSampleInterval: Duration = .seconds(1)

    /// Starts the endpoint on `configuration.metrics.listen`; returns nil
    /// when the setting is empty. Throws when the address is invalid or taken.
    static func start(metrics: HydraMetrics, configuration: HydraConfiguration, backends: BackendSet,
                      host: PluginHost, orchestrator: Orchestrator, queue: AnnotationPatchQueue?,
                      chains: ChainHealth? = nil, logger: Logger) throws(MetricsServerError) -> Observability? {
        guard !configuration.metrics.listen.isEmpty else {
            logger.info("metrics endpoint disabled: metrics.listen is empty")
            return nil
        }
        let address = try ListenAddress(configuration.metrics.listen)
        let readiness = Readiness(configuration: configuration, backends: backends, host: host, chains: chains)

        for backend in backends.backends {
            metrics.backendInfo.set([backend.name, backend.library.version], 1)
        }
        metrics.registry.addCollector {
            let state = host.state.rawValue
            for name in HydraMetrics.connectionStates {
                metrics.connectionState.set([name], name == state ? 1 : 0)
            }
            metrics.reconnects.set(total: Double(host.reconnects))
            metrics.ready.set(readiness.notReadyReason() == nil ? 1 : 0)
            let counters = orchestrator.counters
            metrics.reconcileActions.set(["pass"], total: Double(counters.reconcilePasses))
            metrics.reconcileActions.set(["intent_cleaned"], total: Double(counters.intentsCleaned))
            metrics.reconcileActions.set(["record_moved_aside"], total: Double(counters.unreadableRecords))
            metrics.reconcileActions.set(["record_salvaged"], total: Double(counters.recordsSalvaged))
            metrics.stateWriteFailures.set(total: Double(counters.stateWriteFailures))
        }

        let sources = EndpointSources(
            notReadyReason: { readiness.notReadyReason() },
            statusJSON: { readiness.status(stateDir: configuration.stateDir).jsonText() })
        let server = try MetricsServer(address: address, registry: metrics.registry, sources: sources)
        logger.info("metrics endpoint listening",
                    [("address", address.description), ("port", "\(server.boundPort)"),
                     ("paths", "/metrics,/healthz,/readyz,/status")])

        let sampler = Task {
            guard let queue else { return }
            while !Task.isCancelled {
                let statistics = await queue.currentStatistics()
                metrics.queueDepth.set(Double(statistics.depth))
                metrics.queueRetries.set(total: Double(statistics.retries))
                metrics.queueApplied.set(total: Double(statistics.applied))
                metrics.queueDropped.set(total: Double(statistics.dropped + statistics.overflowed))
                try? await Task.sleep(for: queueSampleInterval)
            }
        }
        return Observability(metrics: metrics, server: server, sampler: sampler)
    }

    private init(metrics: HydraMetrics, server: MetricsServer, sampler: Task<Void, Never>) {
        self.metrics = metrics
        self.server = server
        self.sampler = sampler
    }

    /// Stops the sampler and the HTTP server.
    func stop() {
        sampler.cancel()
        server.stop()
    }
}

/// Decides `/readyz`: registered with the runtime, every backend the
/// configuration marks required is loaded and initialised, and every
/// configured network's chain answered its last STATUS with success.
struct Readiness: Sendable {
    let configuration: HydraConfiguration
    let backends: BackendSet
    let host: PluginHost
    /// The chains' STATUS answers, which `ChainMaintenance` refreshes.
    var chains: ChainHealth? = nil

    /// nil when ready, else the reason it is not.
    func notReadyReason() -> String? {
        let loaded = Set(backends.backends.map(\.name))
        let missing = configuration.backends.load.filter { $0.required && !loaded.contains($0.name) }.map(\.name)
        if !missing.isEmpty {
            return "required backends not initialised: \(missing.joined(separator: ","))"
        }
        switch host.state {
        case .registered, .synchronized:
            return chains?.notReadyReason().map { "network chain not ready: \($0)" }
        case let state:
            return "NRI connection is \(state.rawValue), not registered with the runtime"
        }
    }

    /// The document `/status` serves.
    func status(stateDir: String) -> DaemonStatus {
        let reason = notReadyReason()
        return DaemonStatus(
            version: hydraVersion, connection: host.state.rawValue, reconnects: host.reconnects,
            ready: reason == nil, notReadyReason: reason, stateDir: stateDir,
            backends: backends.backends.map {
                DaemonStatus.Backend(name: $0.name, version: $0.library.version, types: $0.types, path: $0.path)
            },
            failedBackends: backends.failures.map(\.description))
    }
}
