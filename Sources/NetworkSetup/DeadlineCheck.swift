import BackendSDK
import CNI

extension Deadline {
    /// Throws `CNIError` code 11 (try again later) naming `step` when the
    /// deadline has passed. Backends call it before each blocking step so
    /// that an operation returns near its deadline instead of running on.
    public func check(before step: String) throws(CNIError) {
        guard hasExpired else { return }
        throw CNIError(code: CNIError.tryAgainLater, msg: "deadline passed before \(step)")
    }

    /// Seconds left until the deadline, at most `limit`, and at least 0.
    /// With no deadline it returns `limit`.
    public func secondsLeft(max limit: Double) -> Double {
        guard let remaining = remainingNanoseconds else { return limit }
        return Swift.max(0, Swift.min(limit, Double(remaining) / 1e9))
    }
}
