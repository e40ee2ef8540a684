import Foundation
import HydraLog
#if canImport(Glibc)
import Glibc
#endif

/// A named step of attach at which the daemon can be made to kill itself,
/// so tests can prove that reconcile cleans up after a crash at that step.
///
/// Test-only: set `HYDRA_TEST_CRASH_AT=<raw value>` in the daemon's
/// environment. It is read once, at the first attach, and the process
/// raises SIGKILL the first time it reaches that step. Never set it in a
/// deployment: the daemon dies on the first pod that gets a network.
public enum CrashPoint: String, Sendable, CaseIterable {
    /// The intent entry is on disk, the backend has not been called.
    case afterIntent = "after-intent"
    /// The backend attached the network, the record does not have it yet.
    case afterBackendAttach = "after-backend-attach"
    /// The completed attachment is on disk.
    case afterRecord = "after-record"
    /// Every network is attached and recorded; the runtime has no response yet.
    case beforeAnswer = "before-answer"

    /// The environment variable that selects the crash point.
    public static let environmentVariable = "HYDRA_TEST_CRASH_AT"

    /// The crash point chosen at start-up, or nil. An unknown value is
    /// reported on standard error and ignored.
    static let configured: CrashPoint? = {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty else { return nil }
        guard let point = CrashPoint(rawValue: value) else {
            let accepted = allCases.map(\.rawValue).joined(separator: ", ")
            LogSink.writeAll("hydra: ignoring invalid \(environmentVariable) \"\(value)\": expected one of \(accepted)\n",
                             to: STDERR_FILENO)
            return nil
        }
        return point
    }()

    /// Kills the process with SIGKILL when `point` is the configured crash
    /// point. SIGKILL cannot be caught, so nothing after this step runs:
    /// no deferred cleanup, no flush, exactly as when the kernel's OOM
    /// killer or a node failure stops the daemon.
    static func reached(_ point: CrashPoint) {
        guard configured == point else { return }
        raise(SIGKILL)
    }
}
