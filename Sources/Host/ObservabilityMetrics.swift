import Metrics

/// The metric families `hydra run` exports, registered once per process.
struct HydraMetrics: Sendable {
    let registry: MetricsRegistry
    let attaches: CounterFamily
    let detaches: CounterFamily
    let attachSeconds: HistogramFamily
    let detachSeconds: HistogramFamily
    let failures: CounterFamily
    let connectionState: GaugeFamily
    let reconnects: CounterFamily
    let queueDepth: GaugeFamily
    let queueRetries: CounterFamily
    let queueApplied: CounterFamily
    let queueDropped: CounterFamily
    let reconcileActions: CounterFamily
    let stateWriteFailures: CounterFamily
    let backendInfo: GaugeFamily
    let ready: GaugeFamily

    /// The values `hydra_nri_connection_state` can take, one sample per state.
    static let connectionStates = ["disconnected", "connecting", "registered", "synchronized", "stopped"]

    init(registry: MetricsRegistry = MetricsRegistry()) {
        self.registry = registry
        attaches = registry.counter("hydra_attach_total",
                                    help: "Networks attached to pod sandboxes, successful or not.",
                                    labels: ["backend", "network", "result"])
        detaches = registry.counter("hydra_detach_total",
                                    help: "Networks detached from pod sandboxes, successful or not.",
                                    labels: ["backend", "network", "result"])
        attachSeconds = registry.histogram("hydra_attach_duration_seconds",
                                           help: "Time to attach one network (its whole plugin list), in seconds.",
                                           labels: ["backend", "network"])
        detachSeconds = registry.histogram("hydra_detach_duration_seconds",
                                           help: "Time to detach one network, in seconds.",
                                           labels: ["backend", "network"])
        failures = registry.counter("hydra_operation_failures_total",
                                    help: "Failed attach, detach and check calls by reason (the CNI error class).",
                                    labels: ["operation", "backend", "network", "reason"])
        connectionState = registry.gauge("hydra_nri_connection_state",
                                         help: "1 for the current NRI connection state, 0 for the others.",
                                         labels: ["state"])
        reconnects = registry.counter("hydra_nri_reconnects_total",
                                      help: "Reconnects to the container runtime's NRI socket since start-up.")
        queueDepth = registry.gauge("hydra_annotation_queue_depth",
                                    help: "Pod annotation patches waiting to be applied.")
        queueRetries = registry.counter("hydra_annotation_queue_retries_total",
                                        help: "Pod annotation patch attempts that failed and were retried.")
        queueApplied = registry.counter("hydra_annotation_patches_applied_total",
                                        help: "Pod annotation patches the API server accepted.")
        queueDropped = registry.counter("hydra_annotation_patches_dropped_total",
                                        help: "Pod annotation patches dropped (pod gone, rejected, or queue full).")
        reconcileActions = registry.counter("hydra_reconcile_actions_total",
                                            help: "Reconcile work since start-up by action.",
                                            labels: ["action"])
        stateWriteFailures = registry.counter("hydra_state_write_failures_total",
                                              help: "Sandbox record writes to the state directory that failed.")
        backendInfo = registry.gauge("hydra_backend_info",
                                     help: "1 per loaded backend, labelled with its name and version.",
                                     labels: ["backend", "version"])
        ready = registry.gauge("hydra_ready", help: "1 when /readyz returns 200, else 0.")
    }
}
