import NRIWire

/// What the NRI plugin host calls for each pod event. The orchestrator
/// implements it; tests implement it to observe the host.
///
/// The host calls the methods one at a time per connection, because the
/// runtime delivers NRI events strictly in sequence. `deadline` is the
/// runtime's request timeout minus a safety margin: a call still running at
/// the deadline is answered for it (an error for RunPodSandbox, success for
/// the others) and the call keeps running in its task. An implementation
/// that learns afterwards that its RunPodSandbox answer was already sent as
/// failed must undo the attach itself, because the runtime then tears the
/// sandbox down without telling Hydra; `abandoned` reports that case.
public protocol PodLifecycleHandler: Sendable {
    /// Attaches the pod's networks. Throwing fails the pod's sandbox creation
    /// with the error's description.
    func runPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async throws

    /// Detaches the pod's networks. Failures are the handler's to log and
    /// retry: the runtime is always told the stop succeeded.
    func stopPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async

    /// Detaches what is still attached and forgets the sandbox.
    func removePodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async

    /// Reconciles with the runtime's full pod list, called after every
    /// registration once the last Synchronize part arrived.
    func synchronize(pods: [PodSandbox]) async

    /// Called when a RunPodSandbox that the host already answered as failed
    /// (deadline passed) finishes successfully in the background: the
    /// handler must detach what it attached.
    func abandoned(_ pod: PodSandbox) async

    /// Receives the Configure request's `config` string when the runtime
    /// sends one (non-empty). Throwing rejects the configuration: the host
    /// answers Configure with the error.
    func configure(runtimeConfig: String) async throws
}
