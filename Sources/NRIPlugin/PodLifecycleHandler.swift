import NRIWire

/// The interface the NRI plugin host calls for each pod event. The orchestrator
/// implements it; tests implement it to observe the host.
///
/// The runtime delivers NRI events strictly in sequence, so calls normally
/// arrive one at a time, but the host itself does not serialize them. `deadline`
/// is the runtime's request timeout minus a safety margin. When a call is
/// still running at the deadline, the host sends the runtime a response on
/// its behalf (an error for RunPodSandbox, success for the others) and the
/// call keeps running in its task. The runtime then tears a failed sandbox
/// down without telling Hydra, so a RunPodSandbox that finishes after its
/// failure was reported must be undone, and `abandoned` reports that case.
public protocol PodLifecycleHandler: Sendable {
    /// Attaches the pod's networks. Throwing fails the pod's sandbox creation
    /// with the error's description.
    func runPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async throws

    /// Detaches the pod's networks. Failures are the handler's to log and
    /// retry: the runtime always receives a successful response.
    func stopPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async

    /// Detaches what is still attached and forgets the sandbox.
    func removePodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async

    /// Reconciles with the runtime's full pod list, called after every
    /// registration once the last Synchronize part arrived.
    func synchronize(pods: [PodSandbox]) async

    /// Called when a RunPodSandbox that the host already reported as failed
    /// (deadline passed) finishes successfully in the background: the
    /// handler must detach what it attached.
    func abandoned(_ pod: PodSandbox) async

    /// Receives the Configure request's `config` string when the runtime
    /// sends one (non-empty). Throwing rejects the configuration: the host
    /// responds to Configure with the error.
    func configure(runtimeConfig: String) async throws
}
