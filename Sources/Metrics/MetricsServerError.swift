/// Errors from starting the metrics endpoint or from reading it.
public enum MetricsServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The listen address is malformed or cannot be resolved.
    case invalidAddress(String, String)
    /// MHD_start_daemon returned NULL: typically the address is in use or not local.
    case startFailed(String)
    /// An HTTP request to an endpoint failed: the URL and the reason.
    case requestFailed(String, String)

    public var description: String {
        switch self {
        case let .invalidAddress(address, reason):
            return "invalid metrics listen address \"\(address)\": \(reason)"
        case let .startFailed(address):
            return "failed to listen on \(address) for metrics (address in use or not on this host?)"
        case let .requestFailed(url, reason):
            return "request to \(url) failed: \(reason)"
        }
    }
}
