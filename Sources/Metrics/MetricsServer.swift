import CMicroHTTPD
import Foundation

/// The content sources of the health and status endpoints. The server calls them on
/// libmicrohttpd's own thread, so they must return without waiting on async work.
public struct EndpointSources: Sendable {
    /// `/readyz`: nil when ready, else the reason it is not.
    public var notReadyReason: @Sendable () -> String?
    /// `/status`: the JSON document for `hydra status`.
    public var statusJSON: @Sendable () -> String

    public init(notReadyReason: @escaping @Sendable () -> String? = { nil },
                statusJSON: @escaping @Sendable () -> String = { "{}" }) {
        self.notReadyReason = notReadyReason
        self.statusJSON = statusJSON
    }
}

/// An HTTP endpoint on libmicrohttpd serving `/metrics` (Prometheus text),
/// `/healthz` (200 while the process runs), `/readyz` (200 or 503 with the
/// reason) and `/status` (JSON). The daemon runs its own polling thread,
/// so no request ever occupies a Swift concurrency thread.
public final class MetricsServer: @unchecked Sendable {
    /// The address the server listens on, with the port the kernel picked for port 0.
    public let address: ListenAddress
    public let boundPort: UInt16
    private let context: Unmanaged<ServerContext>
    private let lock = NSLock()
    private var daemon: OpaquePointer?

    /// Starts listening on `address` (MHD_start_daemon with
    /// MHD_OPTION_SOCK_ADDR). Throws when the address is invalid or taken.
    public init(address: ListenAddress, registry: MetricsRegistry, sources: EndpointSources) throws(MetricsServerError) {
        let context = Unmanaged.passRetained(ServerContext(registry: registry, sources: sources))
        let started = address.socketAddress.withUnsafeBytes { bytes in
            hydra_mhd_start(bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), address.isIPv6 ? 1 : 0,
                            64, 10, handleRequest, context.toOpaque())
        }
        guard let started else {
            context.release()
            throw .startFailed(address.description)
        }
        self.address = address
        self.context = context
        self.daemon = started
        self.boundPort = hydra_mhd_bound_port(started)
    }

    /// Stops the daemon (MHD_stop_daemon, which joins its thread). Safe to call twice.
    public func stop() {
        let daemon = lock.withLock {
            let current = self.daemon
            self.daemon = nil
            return current
        }
        guard let daemon else { return }
        MHD_stop_daemon(daemon)
        context.release()
    }

    deinit { stop() }
}

/// The registry and sources the C request handler reaches through its context pointer.
final class ServerContext: Sendable {
    let registry: MetricsRegistry
    let sources: EndpointSources

    init(registry: MetricsRegistry, sources: EndpointSources) {
        self.registry = registry
        self.sources = sources
    }

    /// Returns the status code, content type and body for a GET of `path`.
    func respond(method: String, path: String) -> (status: UInt32, contentType: String, body: String) {
        guard method == "GET" || method == "HEAD" else {
            return (405, "text/plain; charset=utf-8", "method \(method) not allowed: use GET\n")
        }
        switch path {
        case "/metrics":
            return (200, "text/plain; version=0.0.4; charset=utf-8", registry.render())
        case "/healthz":
            return (200, "text/plain; charset=utf-8", "ok\n")
        case "/readyz":
            if let reason = sources.notReadyReason() {
                return (503, "text/plain; charset=utf-8", "not ready: \(reason)\n")
            }
            return (200, "text/plain; charset=utf-8", "ok\n")
        case "/status":
            return (200, "application/json", sources.statusJSON() + "\n")
        default:
            return (404, "text/plain; charset=utf-8", "\(path) not found: try /metrics, /healthz, /readyz or /status\n")
        }
    }
}

/// The MHD_AccessHandlerCallback. GET requests carry no body, so the first
/// call for a request already has everything needed to queue the response.
private let handleRequest: hydra_mhd_handler = { context, connection, url, method, _, _, uploadSize, _ in
    guard let context, let connection else { return .NO }
    let server = Unmanaged<ServerContext>.fromOpaque(context).takeUnretainedValue()
    let methodName = method.map { String(cString: $0) } ?? ""
    var path = url.map { String(cString: $0) } ?? "/"
    if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
    // A request with a body gets more calls, so drain them before responding.
    if let uploadSize, uploadSize.pointee > 0 {
        uploadSize.pointee = 0
        return .YES
    }

    let reply = server.respond(method: methodName, path: path)
    let body = Array(reply.body.utf8)
    let response = body.withUnsafeBytes { bytes in
        hydra_mhd_response_copying(bytes.count, bytes.baseAddress)
    }
    guard let response else { return .NO }
    _ = MHD_add_response_header(response, "Content-Type", reply.contentType)
    let queued = MHD_queue_response(connection, UInt32(reply.status), response)
    MHD_destroy_response(response)
    return queued
}
