/// A failed etcd request.
public enum EtcdError: Error, CustomStringConvertible, Sendable {
    /// No endpoint could be reached; `failures` lists each endpoint with its libcurl error.
    case unavailable(failures: [String])
    /// The gateway responded with a non-2xx status; `message` is its `error` or `message` field.
    case status(endpoint: String, path: String, status: Int, message: String)
    /// The gateway responded 2xx with a body that is not the expected JSON.
    case invalidResponse(endpoint: String, path: String, detail: String)
    /// A watch ended because the watched revision was compacted away.
    case compacted(compactRevision: Int64)
    /// The call was aborted by `EtcdCancellation`.
    case cancelled

    public var description: String {
        switch self {
        case .unavailable(let failures):
            return "etcd unavailable: " + failures.joined(separator: "; ")
        case .status(let endpoint, let path, let status, let message):
            return "etcd request \(path) to \(endpoint) failed with HTTP status \(status): \(message)"
        case .invalidResponse(let endpoint, let path, let detail):
            return "invalid etcd response to \(path) from \(endpoint): \(detail)"
        case .compacted(let revision):
            return "etcd watch cancelled: revision compacted up to \(revision)"
        case .cancelled:
            return "etcd request cancelled"
        }
    }

    /// Whether retrying the request later may succeed (connection failures and 5xx statuses).
    public var isTransient: Bool {
        switch self {
        case .unavailable: return true
        case .status(_, _, let status, _): return status >= 500
        default: return false
        }
    }
}
