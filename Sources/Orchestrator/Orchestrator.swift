import CNI
import Foundation
import HydraLog
import NRIPlugin
import NRIWire

/// The handler of pod sandbox events. It selects and resolves the pod's
/// networks and attaches them in order through the runner, rolling back on
/// failure. It keeps the per-sandbox records, detaches at stop and removal,
/// reconciles with the runtime's pod list, and queues the pod's
/// network-status annotation.
///
/// Operations on one sandbox are serialized; different sandboxes proceed
/// concurrently.
public final class Orchestrator: PodLifecycleHandler {
    /// Time a detach may take when the caller's deadline does not apply:
    /// rollback after a failed attach (the host sends the runtime its error
    /// response at the deadline regardless), stop, remove and reconcile.
    public static let detachBudget: Duration = .seconds(30)

    let runner: any AttachmentRunner
    let definitions: (any NetworkDefinitionSource)?
    let publisher: (any PodStatusPublisher)?
    let events: (any PodEventRecorder)?
    let inspector: (any DefaultInterfaceInspector)?
    let overrides: CommandLineOverrides
    let logger: Logger
    let serializer = SandboxSerializer()

    struct MutableState {
        var configuration: HydraConfiguration
        var store: StateStore
        /// Sandboxes the runtime reported running: the last Synchronize list,
        /// plus sandboxes attached since, minus those removed.
        var knownPods: [String: PodSandbox] = [:]
        /// False until the first Synchronize: before it, the runtime's pod
        /// list is unknown, so the periodic pass must not detach anything.
        var synchronized = false
        var counters = OrchestratorCounters()
    }

    let state: Protected<MutableState>

    /// Creates an orchestrator. `configuration` should already have the
    /// command-line overrides applied; they are applied again to any
    /// configuration that NRI Configure sends.
    public init(configuration: HydraConfiguration, overrides: CommandLineOverrides = CommandLineOverrides(),
                runner: any AttachmentRunner, definitions: (any NetworkDefinitionSource)? = nil,
                publisher: (any PodStatusPublisher)? = nil, events: (any PodEventRecorder)? = nil,
                inspector: (any DefaultInterfaceInspector)? = nil,
                logger: Logger = Logger(component: "orchestrator")) {
        self.runner = runner
        self.definitions = definitions
        self.publisher = publisher
        self.events = events
        self.inspector = inspector
        self.overrides = overrides
        self.logger = logger
        self.state = Protected(MutableState(configuration: configuration,
                                            store: StateStore(directory: configuration.stateDir)))
    }

    /// The configuration in effect.
    public var configuration: HydraConfiguration { state.current.configuration }

    /// Totals since start-up.
    public var counters: OrchestratorCounters { state.current.counters }

    var store: StateStore { state.current.store }

    func count(_ update: (inout OrchestratorCounters) -> Void) {
        state.withLock { update(&$0.counters) }
    }

    /// The planner for the current configuration; NetworkAttachmentDefinitions
    /// are looked up only when Kubernetes access is enabled.
    public var planner: AttachmentPlanner {
        let configuration = self.configuration
        return AttachmentPlanner(configuration: configuration,
                                 definitions: configuration.kubernetes.enabled ? definitions : nil)
    }

    static func podName(_ pod: PodSandbox) -> String { "\(pod.namespace)/\(pod.name)" }

    static func reference(_ pod: PodSandbox) -> PodReference {
        PodReference(namespace: pod.namespace, name: pod.name, uid: pod.uid)
    }

    func podLogger(_ pod: PodSandbox) -> Logger {
        logger.with([("pod", Self.podName(pod)), ("sandbox", pod.id)])
    }

    /// A logger for `sandboxID` that also names the pod when it is known.
    /// NOTE: lines about a sandbox whose pod is neither known to the runtime
    /// nor readable from its record carry only `sandbox`.
    func sandboxLogger(_ sandboxID: String, pod: PodSandbox?) -> Logger {
        logger.with((pod.map { [("pod", Self.podName($0))] } ?? []) + [("sandbox", sandboxID)])
    }

    // MARK: PodLifecycleHandler

    public func configure(runtimeConfig: String) async throws {
        let parsed = try HydraConfiguration(parsing: runtimeConfig, source: "from NRI Configure")
        let configuration = try overrides.applied(to: parsed)
        state.withLock {
            $0.configuration = configuration
            $0.store = StateStore(directory: configuration.stateDir)
        }
        logger.info("configuration replaced by NRI Configure",
                    [("networks", String(configuration.networks.count)), ("stateDir", configuration.stateDir)])
    }

    public func runPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async throws {
        let log = podLogger(pod)
        let plans: [PlannedAttachment]
        do {
            plans = try await planner.plan(namespace: pod.namespace, name: pod.name, labels: pod.labels,
                                           annotations: pod.annotations,
                                           hasNetworkNamespace: pod.networkNamespacePath != nil)
        } catch {
            log.error("network selection failed", [("error", "\(error)")])
            events?.record(pod: Self.reference(pod), type: .warning, reason: "NetworkSelectionFailed", message: "\(error)")
            throw error
        }
        guard let netnsPath = pod.networkNamespacePath, !plans.isEmpty else {
            state.withLock { $0.knownPods[pod.id] = pod }
            return
        }

        let record = try await serializer.run(pod.id) {
            let record = try await self.attach(plans, to: pod, netnsPath: netnsPath, deadline: deadline,
                                               rollbackBudget: Self.detachBudget, log: log)
            self.state.withLock { $0.knownPods[pod.id] = pod }
            return record
        }
        CrashPoint.reached(.beforeAnswer)
        publishStatus(for: pod, record: record, log: log)
    }

    public func stopPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async {
        await serializer.run(pod.id) {
            _ = await self.detachRecorded(sandboxID: pod.id, removeRecord: false, log: self.podLogger(pod))
        }
    }

    public func removePodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async {
        await serializer.run(pod.id) {
            _ = await self.detachRecorded(sandboxID: pod.id, removeRecord: true, log: self.podLogger(pod))
            self.state.withLock { _ = $0.knownPods.removeValue(forKey: pod.id) }
        }
    }

    public func abandoned(_ pod: PodSandbox) async {
        let log = podLogger(pod)
        log.warning("RunPodSandbox finished after its deadline, so the runtime got a failure response; detaching its networks")
        await serializer.run(pod.id) {
            _ = await self.detachRecorded(sandboxID: pod.id, removeRecord: true, log: log)
            self.state.withLock { _ = $0.knownPods.removeValue(forKey: pod.id) }
        }
    }

    public func synchronize(pods: [PodSandbox]) async {
        state.withLock {
            $0.knownPods = Dictionary(pods.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
            $0.synchronized = true
        }
        await reconcile()
    }
}
