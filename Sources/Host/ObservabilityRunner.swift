import BackendHost
import CNI
import Orchestrator

/// An `AttachmentRunner` that forwards to another runner and records
/// counts, latencies and failures per backend and network.
struct MeasuredAttachmentRunner: AttachmentRunner {
    let inner: any AttachmentRunner
    let metrics: HydraMetrics

    func attach(_ request: AttachmentRequest, deadline: ContinuousClock.Instant) async throws -> CNIResult {
        let labels = [request.backend, request.network]
        let start = ContinuousClock.now
        do {
            let result = try await inner.attach(request, deadline: deadline)
            metrics.attachSeconds.observe(labels, Self.seconds(since: start))
            metrics.attaches.increment(labels + ["success"])
            return result
        } catch {
            metrics.attachSeconds.observe(labels, Self.seconds(since: start))
            metrics.attaches.increment(labels + ["failure"])
            metrics.failures.increment(["attach"] + labels + [Self.reason(error, deadline: deadline)])
            throw error
        }
    }

    func detach(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let labels = [record.backend, record.request.network]
        let start = ContinuousClock.now
        do {
            try await inner.detach(record, deadline: deadline)
            metrics.detachSeconds.observe(labels, Self.seconds(since: start))
            metrics.detaches.increment(labels + ["success"])
        } catch {
            metrics.detachSeconds.observe(labels, Self.seconds(since: start))
            metrics.detaches.increment(labels + ["failure"])
            metrics.failures.increment(["detach"] + labels + [Self.reason(error, deadline: deadline)])
            throw error
        }
    }

    func check(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        do {
            try await inner.check(record, deadline: deadline)
        } catch {
            let labels = [record.backend, record.request.network]
            metrics.failures.increment(["check"] + labels + [Self.reason(error, deadline: deadline)])
            throw error
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// A short, bounded label for why a call failed: the CNI error class
    /// for CNI and backend errors, `deadline_exceeded` once the deadline
    /// passed, `cancelled`, or `other`.
    static func reason(_ error: any Error, deadline: ContinuousClock.Instant) -> String {
        let code: UInt?
        switch error {
        case let error as CNIError: code = error.code
        case let error as BackendCallError: code = error.cniError.code
        case is CancellationError: return "cancelled"
        default: code = nil
        }
        if let code, let name = reasonNames[code] { return name }
        if ContinuousClock.now >= deadline { return "deadline_exceeded" }
        guard let code else { return "other" }
        // Codes 100 to 999 belong to the plugin; their meaning differs per plugin.
        return code < 1000 ? "plugin_error" : "host_error"
    }

    /// Names for the codes libcni reserves and the HYDRA_HOST_ERR_* codes of the backend ABI.
    static let reasonNames: [UInt: String] = [
        CNIError.incompatibleCNIVersion: "incompatible_cni_version",
        CNIError.unsupportedField: "unsupported_field",
        CNIError.unknownContainer: "unknown_container",
        CNIError.invalidEnvironmentVariables: "invalid_environment_variables",
        CNIError.ioFailure: "io_failure",
        CNIError.decodingFailure: "decoding_failure",
        CNIError.invalidNetworkConfig: "invalid_network_config",
        CNIError.invalidNetNS: "invalid_netns",
        CNIError.tryAgainLater: "try_again_later",
        CNIError.internalError: "internal_error",
        1000: "deadline_exceeded",
        1001: "invalid_result",
        1002: "unknown_error_code",
        1003: "plugin_not_found",
        1004: "plugin_failed",
    ]
}
