import Glibc

/// An absolute point in time on CLOCK_MONOTONIC, in nanoseconds: the
/// `deadline_ns` of the backend ABI. Zero means no deadline.
public struct Deadline: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var monotonicNanoseconds: Int64

    public init(monotonicNanoseconds: Int64) {
        self.monotonicNanoseconds = monotonicNanoseconds
    }

    /// A deadline that never expires.
    public static let none = Deadline(monotonicNanoseconds: 0)

    /// Returns the deadline `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        Deadline(monotonicNanoseconds: now() + Int64(seconds * 1_000_000_000))
    }

    /// Reads CLOCK_MONOTONIC with clock_gettime, in nanoseconds.
    public static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Nanoseconds left until the deadline (negative once passed), or nil for `.none`.
    public var remainingNanoseconds: Int64? {
        monotonicNanoseconds == 0 ? nil : monotonicNanoseconds - Deadline.now()
    }

    /// Whether the deadline has passed. Always false for `.none`.
    public var hasExpired: Bool {
        guard let remaining = remainingNanoseconds else { return false }
        return remaining <= 0
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        // `.none` (0) sorts after every real deadline.
        switch (lhs.monotonicNanoseconds, rhs.monotonicNanoseconds) {
        case (0, _): return false
        case (_, 0): return true
        default: return lhs.monotonicNanoseconds < rhs.monotonicNanoseconds
        }
    }

    public var description: String {
        guard let remaining = remainingNanoseconds else { return "no deadline" }
        return "deadline in \(remaining / 1_000_000) ms"
    }
}
