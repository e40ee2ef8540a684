import Foundation

/// A client of etcd's v3 JSON gateway (the grpc-gateway that etcd serves on
/// its client URLs under `/v3/`), over libcurl.
///
/// Every call blocks the calling thread for up to the request timeout per
/// endpoint, so run it on a dedicated thread, never on the Swift concurrency
/// pool. A request that cannot connect to one endpoint, or gets status 503
/// from it, moves on to the next. The endpoint that responded is tried first
/// next time. Thread-safe.
public final class EtcdClient: @unchecked Sendable {
    public let configuration: EtcdConfiguration
    private let transport: EtcdTransport
    private let lock = NSLock()
    private var preferred = 0

    public init(configuration: EtcdConfiguration) throws {
        guard !configuration.endpoints.isEmpty else {
            throw EtcdError.unavailable(failures: ["no etcd endpoints configured"])
        }
        for endpoint in configuration.endpoints
        where !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw EtcdError.unavailable(failures: ["invalid etcd endpoint \"\(endpoint)\": expected an http:// or https:// URL"])
        }
        self.configuration = configuration
        transport = EtcdTransport(configuration: configuration)
    }

    /// The endpoint the next request tries first.
    public var currentEndpoint: String {
        lock.lock()
        defer { lock.unlock() }
        return configuration.endpoints[preferred]
    }

    // MARK: - KV

    /// Reads `key`, or every key starting with `key` when `prefix` is true (`/v3/kv/range`).
    public func range(_ key: String, prefix: Bool = false) throws -> EtcdRangeResult {
        var request: [String: Any] = ["key": GatewayJSON.base64(key)]
        if prefix { request["range_end"] = GatewayJSON.base64(GatewayJSON.prefixEnd(key)) }
        let (response, endpoint) = try call("/v3/kv/range", request)
        var kvs: [EtcdKeyValue] = []
        for entry in response["kvs"] as? [Any] ?? [] {
            guard let kv = GatewayJSON.keyValue(entry) else {
                throw EtcdError.invalidResponse(endpoint: endpoint, path: "/v3/kv/range", detail: "invalid kvs entry \(entry)")
            }
            kvs.append(kv)
        }
        return EtcdRangeResult(kvs: kvs, revision: Self.revision(response),
                               more: GatewayJSON.bool(response["more"]))
    }

    /// Writes `value` at `key`, attached to `lease` when non-zero (`/v3/kv/put`).
    /// Returns the store revision of the write.
    @discardableResult
    public func put(_ key: String, value: Data, lease: Int64 = 0) throws -> Int64 {
        var request: [String: Any] = ["key": GatewayJSON.base64(key), "value": GatewayJSON.base64(value)]
        if lease != 0 { request["lease"] = String(lease) }
        return Self.revision(try call("/v3/kv/put", request).response)
    }

    /// Writes `value` at `key` only if the key's version equals
    /// `expectedVersion`, in one transaction (`/v3/kv/txn`). Version 0 means
    /// "only if the key does not exist". Returns whether the write happened.
    public func putIfVersion(_ key: String, value: Data, lease: Int64 = 0, expectedVersion: Int64) throws -> Bool {
        var put: [String: Any] = ["key": GatewayJSON.base64(key), "value": GatewayJSON.base64(value)]
        if lease != 0 { put["lease"] = String(lease) }
        let request: [String: Any] = [
            "compare": [[
                "key": GatewayJSON.base64(key),
                "target": "VERSION",
                "result": "EQUAL",
                "version": String(expectedVersion),
            ]],
            "success": [["request_put": put]],
        ]
        return GatewayJSON.bool(try call("/v3/kv/txn", request).response["succeeded"])
    }

    /// Deletes `key`, or every key starting with it when `prefix` is true
    /// (`/v3/kv/deleterange`). Returns the number of keys deleted.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) throws -> Int64 {
        var request: [String: Any] = ["key": GatewayJSON.base64(key)]
        if prefix { request["range_end"] = GatewayJSON.base64(GatewayJSON.prefixEnd(key)) }
        return GatewayJSON.int64(try call("/v3/kv/deleterange", request).response["deleted"])
    }

    /// Compacts the store's history up to `revision` (`/v3/kv/compaction`), so
    /// watches from older revisions are cancelled.
    public func compact(revision: Int64) throws {
        _ = try call("/v3/kv/compaction", ["revision": String(revision), "physical": true])
    }

    // MARK: - Leases

    /// Grants a lease of `ttl` seconds (`/v3/lease/grant`).
    public func grantLease(ttl: Int64) throws -> EtcdLease {
        let (response, endpoint) = try call("/v3/lease/grant", ["TTL": String(ttl)])
        if let message = response["error"] as? String, !message.isEmpty {
            throw EtcdError.status(endpoint: endpoint, path: "/v3/lease/grant", status: 200, message: message)
        }
        let lease = EtcdLease(id: GatewayJSON.int64(response["ID"]), ttl: GatewayJSON.int64(response["TTL"]))
        guard lease.id != 0 else {
            throw EtcdError.invalidResponse(endpoint: endpoint, path: "/v3/lease/grant", detail: "no lease ID in \(response)")
        }
        return lease
    }

    /// Renews a lease once (`/v3/lease/keepalive`, a stream of which one
    /// response is read). Returns the new TTL; a TTL of 0 or less means the
    /// lease has expired or was revoked.
    public func keepAlive(leaseID: Int64) throws -> EtcdLease {
        let body = try Self.encode(["ID": String(leaseID)])
        var lease: EtcdLease?
        var streamError: String?
        let endpoint = try withFailover("/v3/lease/keepalive") { endpoint in
            var buffer = Data()
            let (status, errorBody) = try transport.post(
                url: endpoint + "/v3/lease/keepalive", body: body, timeout: configuration.requestTimeout,
                cancellation: nil) { chunk in
                    buffer.append(chunk)
                    guard let line = Self.takeLine(&buffer) else { return true }
                    if let result = line["result"] as? [String: Any] {
                        lease = EtcdLease(id: GatewayJSON.int64(result["ID"]), ttl: GatewayJSON.int64(result["TTL"]))
                    } else {
                        streamError = Self.errorMessage(line)
                    }
                    return false
                }
            return (status, errorBody)
        }
        guard let lease else {
            throw EtcdError.invalidResponse(endpoint: endpoint, path: "/v3/lease/keepalive",
                                            detail: streamError ?? "stream ended without a result")
        }
        return lease
    }

    /// Revokes a lease, deleting every key attached to it (`/v3/lease/revoke`).
    public func revokeLease(id: Int64) throws {
        _ = try call("/v3/lease/revoke", ["ID": String(id)])
    }

    // MARK: - Watch

    /// Watches every key starting with `prefix` from `startRevision`
    /// (`/v3/watch`) and hands each batch of events, with the revision of
    /// the response, to `onEvents` on the calling thread. Blocks until
    /// `onEvents` returns false (then returns normally) or `cancellation` is
    /// set (throws `.cancelled`). Throws `.compacted` when `startRevision` is
    /// older than the store's compaction, and `.unavailable` when the stream
    /// breaks. After either, the caller reads the current state and watches again.
    public func watch(prefix: String, startRevision: Int64, cancellation: EtcdCancellation,
                      onEvents: @escaping ([EtcdEvent], Int64) -> Bool) throws {
        var create: [String: Any] = [
            "key": GatewayJSON.base64(prefix),
            "range_end": GatewayJSON.base64(GatewayJSON.prefixEnd(prefix)),
        ]
        if startRevision > 0 { create["start_revision"] = String(startRevision) }
        let body = try Self.encode(["create_request": create])

        var outcome: EtcdError?
        var stoppedByHandler = false
        _ = try withFailover("/v3/watch") { endpoint in
            var buffer = Data()
            let (status, errorBody) = try transport.post(
                url: endpoint + "/v3/watch", body: body, timeout: nil, cancellation: cancellation) { chunk in
                    buffer.append(chunk)
                    while let line = Self.takeLine(&buffer) {
                        guard let result = line["result"] as? [String: Any] else {
                            outcome = .invalidResponse(endpoint: endpoint, path: "/v3/watch",
                                                       detail: Self.errorMessage(line))
                            return false
                        }
                        if GatewayJSON.bool(result["canceled"]) {
                            let compacted = GatewayJSON.int64(result["compact_revision"])
                            outcome = compacted > 0
                                ? .compacted(compactRevision: compacted)
                                : .invalidResponse(endpoint: endpoint, path: "/v3/watch",
                                                   detail: "watch cancelled: \(result["cancel_reason"] ?? "no reason")")
                            return false
                        }
                        let events = (result["events"] as? [Any] ?? []).compactMap(Self.event)
                        if events.isEmpty { continue }
                        if !onEvents(events, Self.revision(result)) {
                            stoppedByHandler = true
                            return false
                        }
                    }
                    return true
                }
            return (status, errorBody)
        }
        if let outcome { throw outcome }
        if stoppedByHandler { return }
        // The server closed a stream that should run forever.
        throw EtcdError.unavailable(failures: ["watch stream from \(currentEndpoint) ended"])
    }

    // MARK: - Plumbing

    /// Posts a unary request with failover and returns the decoded response object and the endpoint that served it.
    private func call(_ path: String, _ request: [String: Any]) throws -> (response: [String: Any], endpoint: String) {
        let body = try Self.encode(request)
        var responseBody = Data()
        let endpoint = try withFailover(path) { endpoint in
            let result = try transport.post(url: endpoint + path, body: body,
                                            timeout: configuration.requestTimeout, cancellation: nil)
            responseBody = result.body
            return result
        }
        guard let object = try? JSONSerialization.jsonObject(with: responseBody) as? [String: Any] else {
            throw EtcdError.invalidResponse(endpoint: endpoint, path: path,
                                            detail: "not a JSON object: \(String(decoding: responseBody.prefix(200), as: UTF8.self))")
        }
        return (object, endpoint)
    }

    /// Runs `attempt` against each endpoint, starting with the preferred one,
    /// until one returns a status other than 503. Throws `.status` for any
    /// non-2xx response and `.unavailable` when no endpoint could be reached.
    /// Returns the endpoint that responded.
    private func withFailover(_ path: String,
                              _ attempt: (String) throws -> (status: Int, body: Data)) throws -> String {
        let endpoints = configuration.endpoints
        let start = lock.withLock { preferred }
        var failures: [String] = []
        for offset in 0..<endpoints.count {
            let index = (start + offset) % endpoints.count
            let endpoint = endpoints[index]
            let status: Int
            let body: Data
            do {
                (status, body) = try attempt(endpoint)
            } catch let failure as EtcdCurlFailure {
                failures.append("\(endpoint): \(failure)")
                continue
            }
            if status == 503 {
                failures.append("\(endpoint): HTTP status 503: \(Self.errorMessage(body))")
                continue
            }
            lock.withLock { preferred = index }
            guard (200..<300).contains(status) else {
                throw EtcdError.status(endpoint: endpoint, path: path, status: status, message: Self.errorMessage(body))
            }
            return endpoint
        }
        throw EtcdError.unavailable(failures: failures)
    }

    private static func encode(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object)
    }

    private static func revision(_ response: [String: Any]) -> Int64 {
        GatewayJSON.int64((response["header"] as? [String: Any])?["revision"])
    }

    private static func event(_ object: Any) -> EtcdEvent? {
        guard let fields = object as? [String: Any], let kv = GatewayJSON.keyValue(fields["kv"]) else { return nil }
        let kind: EtcdEvent.Kind = (fields["type"] as? String) == "DELETE" ? .delete : .put
        return EtcdEvent(kind: kind, kv: kv)
    }

    /// Removes the first newline-terminated JSON object from `buffer`, or returns nil when none is complete.
    private static func takeLine(_ buffer: inout Data) -> [String: Any]? {
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[buffer.startIndex..<newline]
            buffer = Data(buffer[buffer.index(after: newline)...])
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            return (try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]) ?? ["error": ["message": String(decoding: line, as: UTF8.self)]]
        }
        return nil
    }

    /// Extracts the gateway's error text from a body or a decoded line.
    private static func errorMessage(_ body: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return String(decoding: body.prefix(300), as: UTF8.self)
        }
        return errorMessage(object)
    }

    private static func errorMessage(_ object: [String: Any]) -> String {
        if let error = object["error"] as? [String: Any] {
            return error["message"] as? String ?? "\(error)"
        }
        return object["message"] as? String ?? object["error"] as? String ?? "\(object)"
    }
}
