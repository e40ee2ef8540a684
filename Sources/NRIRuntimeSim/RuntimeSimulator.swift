import Foundation
import HydraLog
import NRIWire

/// Delivery style of pod events in the simulated runtime.
public enum EventStyle: String, Sendable, Codable {
    /// `StateChange(StateChangeEvent)`, as every runtime up to NRI v0.11.
    case stateChange
    /// The dedicated RunPodSandbox/StopPodSandbox/RemovePodSandbox methods
    /// only, failing when the plugin responds with Unimplemented.
    case dedicated
    /// NRI v0.12: the dedicated methods, falling back to StateChange for the
    /// rest of the connection once the plugin responds with Unimplemented.
    case automatic
}

/// Settings of the simulated runtime side of NRI.
public struct RuntimeOptions: Sendable {
    public var runtimeName = "hydra-nri-sim"
    public var runtimeVersion = "v0.0.0"
    public var nriVersion = "v0.12.2"
    /// Announced in Configure and enforced on every call: a call without a
    /// response in time closes the socket, as containerd does.
    public var requestTimeout: Duration = .seconds(2)
    /// Sent in Configure; nil leaves both timeout fields unset, as NRI v0.6 did.
    public var announceTimeouts = true
    /// Plugin-specific `config` string sent in Configure.
    public var pluginConfig = ""
    public var eventStyle: EventStyle = .automatic
    /// Pods per Synchronize part; 0 sends everything in one part.
    public var synchronizePartSize = 0
    public var registrationTimeout: Duration = .seconds(5)

    public init() {}
}

/// Outcome of one pod event.
public enum EventOutcome: Sendable, Equatable, CustomStringConvertible {
    case succeeded
    /// The plugin responded with a non-OK status.
    case failed(code: Int32, message: String)
    /// No response inside the request timeout: the runtime closed the socket.
    case timedOut
    /// The socket was already closed.
    case disconnected(String)

    public var description: String {
        switch self {
        case .succeeded: return "ok"
        case let .failed(code, message): return "failed (status \(code)): \(message)"
        case .timedOut: return "timed out; connection closed"
        case let .disconnected(reason): return "disconnected: \(reason)"
        }
    }
}

/// The runtime side of NRI, enough to drive a plugin through registration,
/// configuration, synchronization and pod events. Tests and the demo use
/// it in place of containerd or CRI-O.
public final class RuntimeSimulator: @unchecked Sendable {
    public let socketPath: String
    private let listener: Int32
    private let logger: Logger

    /// Listens on `socketPath`, replacing a stale socket file.
    public init(socketPath: String, logger: Logger = Logger(component: "nri-sim")) throws {
        self.socketPath = socketPath
        self.logger = logger
        listener = try UnixSocket.listen(path: socketPath)
    }

    deinit {
        close(listener)
        unlink(socketPath)
    }

    /// Waits for a plugin to connect and register, then configures and
    /// synchronizes it with `pods`.
    public func acceptPlugin(options: RuntimeOptions, pods: [PodSandbox] = []) async throws -> PluginConnection {
        let listener = self.listener
        let fd = try await Task.detached { try UnixSocket.accept(listener) }.value
        let connection = PluginConnection(fd: fd, options: options, logger: logger)
        try await connection.handshake(pods: pods)
        return connection
    }

    /// Runs the handshake on an already connected socket, for a plugin that
    /// was handed its end in NRI_PLUGIN_SOCKET.
    public static func handshake(fd: Int32, options: RuntimeOptions, pods: [PodSandbox] = [],
                                 logger: Logger = Logger(component: "nri-sim")) async throws -> PluginConnection {
        let connection = PluginConnection(fd: fd, options: options, logger: logger)
        try await connection.handshake(pods: pods)
        return connection
    }

    /// Accepts one connection without running the handshake, for tests that
    /// play a hostile runtime.
    public func acceptRaw() async throws -> Int32 {
        let listener = self.listener
        return try await Task.detached { try UnixSocket.accept(listener) }.value
    }
}

/// One accepted plugin connection.
public final class PluginConnection: @unchecked Sendable {
    public let options: RuntimeOptions
    public private(set) var registration: RegisterPluginRequest?
    public private(set) var configureResponse: ConfigureResponse?
    /// The `more` flags of the plugin's Synchronize responses, in order.
    public private(set) var synchronizeAnswers: [Bool] = []
    private let endpoint: MuxEndpoint
    private let logger: Logger
    private let lock = NSLock()
    private var registered: CheckedContinuation<RegisterPluginRequest, Error>?
    private var pendingRegistration: RegisterPluginRequest?
    private var useStateChange: Bool

    init(fd: Int32, options: RuntimeOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        self.useStateChange = options.eventStyle == .stateChange
        endpoint = MuxEndpoint(fd: fd, role: .runtime, logger: logger)
    }

    /// Whether the connection fell back to StateChange after Unimplemented.
    public var usesStateChange: Bool { lock.withLock { useStateChange } }

    public var isClosed: Bool { endpoint.closed }

    public func close() { endpoint.close() }

    public func waitUntilClosed() async -> WireError { await endpoint.waitUntilClosed() }

    // MARK: Handshake

    func handshake(pods: [PodSandbox]) async throws {
        endpoint.start { [weak self] incoming in
            guard let self else { return TTRPCResponse(statusCode: TTRPC.StatusCode.unavailable) }
            return self.serveRuntime(incoming)
        }
        registration = try await waitForRegistration()

        var configure = ConfigureRequest(config: options.pluginConfig, runtimeName: options.runtimeName,
                                         runtimeVersion: options.runtimeVersion, nriVersion: options.nriVersion)
        if options.announceTimeouts {
            configure.requestTimeoutMilliseconds = Int64(options.requestTimeout.components.seconds * 1000
                + options.requestTimeout.components.attoseconds / 1_000_000_000_000_000)
            configure.registrationTimeoutMilliseconds = Int64(options.registrationTimeout.components.seconds * 1000)
        }
        let answer = try await call("Configure", configure.encoded())
        configureResponse = try ConfigureResponse(decoding: answer)

        let size = options.synchronizePartSize > 0 ? options.synchronizePartSize : max(pods.count, 1)
        var parts: [[PodSandbox]] = stride(from: 0, to: pods.count, by: size).map {
            Array(pods[$0..<min($0 + size, pods.count)])
        }
        if parts.isEmpty { parts = [[]] }
        for (index, part) in parts.enumerated() {
            let more = index < parts.count - 1
            let reply = try await call("Synchronize", SynchronizeRequest(pods: part, more: more).encoded())
            synchronizeAnswers.append(try SynchronizeResponse(decoding: reply).more)
        }
    }

    private func waitForRegistration() async throws -> RegisterPluginRequest {
        let timeout = options.registrationTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.failRegistration(WireError.timedOut(method: "RegisterPlugin"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if let pending = pendingRegistration {
                lock.unlock()
                continuation.resume(returning: pending)
                return
            }
            registered = continuation
            lock.unlock()
        }
    }

    private func failRegistration(_ error: Error) {
        lock.lock()
        let continuation = registered
        registered = nil
        lock.unlock()
        continuation?.resume(throwing: error)
    }

    private func serveRuntime(_ incoming: IncomingRequest) -> TTRPCResponse {
        let request = incoming.request
        guard request.service == NRIService.runtime, request.method == "RegisterPlugin" else {
            return TTRPCResponse(statusCode: TTRPC.StatusCode.unimplemented,
                                 statusMessage: "\(request.service)/\(request.method) not implemented by the simulator")
        }
        do {
            let registration = try RegisterPluginRequest(decoding: request.payload)
            lock.lock()
            let continuation = registered
            registered = nil
            if continuation == nil { pendingRegistration = registration }
            lock.unlock()
            continuation?.resume(returning: registration)
            return TTRPCResponse()
        } catch {
            return TTRPCResponse(statusCode: TTRPC.StatusCode.invalidArgument, statusMessage: "\(error)")
        }
    }

    // MARK: Events

    public func runPodSandbox(_ pod: PodSandbox) async -> EventOutcome { await podEvent(.runPodSandbox, pod) }
    public func stopPodSandbox(_ pod: PodSandbox) async -> EventOutcome { await podEvent(.stopPodSandbox, pod) }
    public func removePodSandbox(_ pod: PodSandbox) async -> EventOutcome { await podEvent(.removePodSandbox, pod) }

    private func podEvent(_ event: NRIEvent, _ pod: PodSandbox) async -> EventOutcome {
        let method: String
        switch event {
        case .runPodSandbox: method = "RunPodSandbox"
        case .stopPodSandbox: method = "StopPodSandbox"
        default: method = "RemovePodSandbox"
        }
        if !usesStateChange {
            let outcome = await outcome(of: method, PodSandboxRequest(pod: pod).encoded())
            guard case .failed(TTRPC.StatusCode.unimplemented, _) = outcome, options.eventStyle == .automatic else {
                return outcome
            }
            logger.info("plugin does not implement \(method); using StateChange for this connection")
            lock.withLock { useStateChange = true }
        }
        return await outcome(of: "StateChange", StateChangeEvent(event: event, pod: pod).encoded())
    }

    /// Calls a Plugin method with the request timeout; on timeout the socket
    /// is closed, as the real runtime does.
    public func outcome(of method: String, _ payload: [UInt8]) async -> EventOutcome {
        do {
            _ = try await call(method, payload)
            return .succeeded
        } catch let error as WireError {
            switch error {
            case let .status(code, message): return .failed(code: code, message: message)
            case .timedOut:
                endpoint.close(reason: .timedOut(method: method))
                return .timedOut
            default: return .disconnected(error.description)
            }
        } catch {
            return .disconnected("\(error)")
        }
    }

    private func call(_ method: String, _ payload: [UInt8]) async throws -> [UInt8] {
        do {
            return try await endpoint.call(service: NRIService.plugin, method: method, payload: payload,
                                           timeout: options.requestTimeout)
        } catch WireError.timedOut(let name) {
            endpoint.close(reason: .timedOut(method: name))
            throw WireError.timedOut(method: name)
        }
    }

    /// Sends raw bytes, for hostile-peer tests.
    public func writeRaw(_ bytes: [UInt8]) throws { try endpoint.writeRaw(bytes) }
}
