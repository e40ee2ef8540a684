/// The effect of a fault rule on a matching request.
public enum FaultAction: Codable, Sendable, Equatable {
    /// Wait this many seconds, then serve the request normally.
    case delay(seconds: Double)
    /// Return this HTTP status with a Status body (500, 503, 429, 409, ...).
    case status(code: Int)
    /// Close the connection without a response.
    case close
}

/// A fault injected into the fake API server. A request matches when its
/// method and path prefix match, and a nil field matches anything. The rule
/// applies to the next `count` matching requests, or to all of them when
/// `count` is nil.
public struct FaultRule: Codable, Sendable, Equatable {
    public var method: String?
    public var pathPrefix: String?
    public var action: FaultAction
    public var count: Int?

    public init(method: String? = nil, pathPrefix: String? = nil, action: FaultAction, count: Int? = nil) {
        self.method = method
        self.pathPrefix = pathPrefix
        self.action = action
        self.count = count
    }

    func matches(method: String, path: String) -> Bool {
        if let expected = self.method, expected.uppercased() != method.uppercased() {
            return false
        }
        if let pathPrefix, !path.hasPrefix(pathPrefix) {
            return false
        }
        return true
    }
}

/// A request the fake API server received, as `GET /debug/requests` lists it.
public struct RecordedRequest: Codable, Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: String
    public var contentType: String?
    /// The `Authorization` header as received; this is a test server, so it
    /// keeps the token to let tests check which one the client sent.
    public var authorization: String?
    /// The body parsed as JSON, or nil when empty or not JSON.
    public var body: JSONValue?
    /// HTTP status of the response, 0 when the server closed the connection instead.
    public var status: Int
}
