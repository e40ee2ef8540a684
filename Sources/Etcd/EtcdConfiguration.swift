/// The etcd endpoints and TLS files of a client, with its timeouts.
public struct EtcdConfiguration: Sendable, Equatable {
    /// Client URLs such as `https://10.0.0.5:2379`, tried in order on failure.
    public var endpoints: [String]
    /// PEM file with the CA that signed the servers' certificates.
    public var caFile: String?
    /// PEM client certificate and key for servers that require client authentication.
    public var certFile: String?
    public var keyFile: String?
    /// Limit for connecting to one endpoint.
    public var connectTimeout: Duration
    /// Limit for one unary request, connection included.
    public var requestTimeout: Duration

    public init(endpoints: [String], caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                connectTimeout: Duration = .seconds(2), requestTimeout: Duration = .seconds(5)) {
        self.endpoints = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }
}
