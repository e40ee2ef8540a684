/// The `Status` object the API server returns with a failed request
/// (`apiVersion: v1`, `kind: Status`).
public struct APIStatus: Codable, Sendable, Equatable {
    /// `Success` or `Failure`.
    public var status: String?
    /// Human-readable description from the API server.
    public var message: String?
    /// Machine-readable cause such as `NotFound`, `Conflict`, `AlreadyExists`, `Expired`.
    public var reason: String?
    /// The HTTP status code, repeated in the body.
    public var code: Int?

    public init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
    }
}

/// Failures of `KubernetesClient` requests. Each case names the request
/// (method and path) that failed.
public enum KubernetesError: Error, Sendable, CustomStringConvertible {
    /// No HTTP response arrived: connection refused, timeout, DNS or TLS
    /// failure. `code` is the libcurl `CURLcode` and `message` its text.
    case transport(request: String, code: Int, message: String)
    /// HTTP 404: the object (or its namespace) does not exist.
    case notFound(request: String, status: APIStatus)
    /// HTTP 409: a conflict, for example a failed UID precondition or an
    /// object that already exists.
    case conflict(request: String, status: APIStatus)
    /// HTTP 429 or 5xx: the API server is overloaded or failing.
    case unavailable(request: String, httpStatus: Int, status: APIStatus)
    /// Any other non-2xx response, for example 401, 403 or 422.
    case rejected(request: String, httpStatus: Int, status: APIStatus)
    /// A 2xx response whose body could not be decoded.
    case invalidResponse(request: String, detail: String)
    /// The client configuration is unusable (missing token file, bad URL).
    case invalidConfiguration(String)

    /// True when the API server could not be reached or returned 429/5xx,
    /// so the same request may succeed later.
    public var isUnavailable: Bool {
        switch self {
        case .transport, .unavailable: return true
        default: return false
        }
    }

    /// True for HTTP 404.
    public var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }

    /// True for HTTP 409.
    public var isConflict: Bool {
        if case .conflict = self { return true }
        return false
    }

    /// The HTTP status code, or nil when no response arrived.
    public var httpStatus: Int? {
        switch self {
        case .notFound: return 404
        case .conflict: return 409
        case .unavailable(_, let code, _), .rejected(_, let code, _): return code
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .transport(let request, let code, let message):
            return "\(request) failed: \(message) (curl code \(code))"
        case .notFound(let request, let status):
            return "\(request) failed: not found: \(status.message ?? "")"
        case .conflict(let request, let status):
            return "\(request) failed: conflict: \(status.message ?? "")"
        case .unavailable(let request, let code, let status):
            return "\(request) failed: HTTP \(code) \(status.reason ?? ""): \(status.message ?? "")"
        case .rejected(let request, let code, let status):
            return "\(request) failed: HTTP \(code) \(status.reason ?? ""): \(status.message ?? "")"
        case .invalidResponse(let request, let detail):
            return "\(request) returned an invalid response: \(detail)"
        case .invalidConfiguration(let detail):
            return "invalid Kubernetes client configuration: \(detail)"
        }
    }
}
