/// Totals since start-up, for the metrics endpoint.
public struct OrchestratorCounters: Sendable, Equatable {
    /// Networks attached successfully.
    public var attaches = 0
    /// Attach calls that failed (each one rolled the sandbox back).
    public var attachFailures = 0
    /// Detach calls that failed; reconcile retries them.
    public var detachFailures = 0
    /// Record files moved aside because they could not be read.
    public var unreadableRecords = 0
    /// Unreadable records rebuilt from the attachments that still decoded.
    public var recordsSalvaged = 0
    /// Intent entries cleaned up (attaches interrupted by a crash).
    public var intentsCleaned = 0
    /// Reconcile passes run.
    public var reconcilePasses = 0
    /// State directory writes that failed.
    public var stateWriteFailures = 0

    public init() {}
}
