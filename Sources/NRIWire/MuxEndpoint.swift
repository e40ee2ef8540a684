import Foundation
import HydraLog
#if canImport(Glibc)
import Glibc
#endif

/// Mux connections a side serves and calls on. The plugin
/// serves the Plugin service on connection 1 and calls the Runtime service
/// on connection 2; the runtime does the opposite.
public struct EndpointRole: Sendable {
    public var servesOn: UInt32
    public var callsOn: UInt32

    public static let plugin = EndpointRole(servesOn: Mux.pluginServiceConnection, callsOn: Mux.runtimeServiceConnection)
    public static let runtime = EndpointRole(servesOn: Mux.runtimeServiceConnection, callsOn: Mux.pluginServiceConnection)
}

/// An incoming ttrpc request with the deadline its caller set.
public struct IncomingRequest: Sendable {
    public var streamID: UInt32
    public var request: TTRPCRequest
    /// When the request arrived.
    public var received: ContinuousClock.Instant
    /// `received` plus the request's `timeout_nano`, or nil when it has none.
    public var deadline: ContinuousClock.Instant?
}

/// One side of an NRI socket: the mux, a ttrpc server on one connection and a
/// ttrpc client on the other.
///
/// A dedicated thread reads the socket with blocking `read(2)` and decodes
/// frames; each request is handed to the handler in its own task, so
/// concurrent calls get their responses independently. Writes are serialized by a
/// lock and loop until the whole buffer is out. Any violation that leaves the
/// byte stream untrustworthy closes the socket; the owner learns it through
/// `waitUntilClosed()`.
public final class MuxEndpoint: @unchecked Sendable {
    public typealias RequestHandler = @Sendable (IncomingRequest) async -> TTRPCResponse

    private let fd: Int32
    private let role: EndpointRole
    private let logger: Logger
    private let lock = NSLock()
    private let writeLock = NSLock()
    private var handler: RequestHandler?
    private var nextStreamID: UInt32 = 1
    private var pendingCalls: [UInt32: CheckedContinuation<TTRPCResponse, Error>] = [:]
    private var isClosed = false
    private var closeReason: WireError?
    private var closeWaiters: [CheckedContinuation<WireError, Never>] = []
    private var readerStarted = false
    private var descriptorClosed = false

    /// Takes ownership of `fd`, a connected stream socket.
    public init(fd: Int32, role: EndpointRole, logger: Logger) {
        self.fd = fd
        self.role = role
        self.logger = logger
    }

    deinit {
        // The reader thread keeps the endpoint alive while it runs and
        // closes the descriptor itself; only a never-started endpoint still
        // owns an open descriptor here.
        if !readerStarted { Glibc.close(fd) }
    }

    /// Starts reading and serving requests with `handler`.
    public func start(handler: @escaping RequestHandler) {
        lock.lock()
        self.handler = handler
        let alreadyStarted = readerStarted
        readerStarted = true
        lock.unlock()
        guard !alreadyStarted else { return }

        let thread = Thread { [self] in readLoop() }
        thread.name = "nri-reader"
        thread.start()
    }

    /// Calls `service/method` on the peer and returns the response payload.
    /// Throws `WireError.status` for a non-OK status, `.timedOut` when no
    /// response arrives within `timeout`, `.closed` when the socket goes away.
    public func call(service: String, method: String, payload: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let streamID: UInt32 = try lock.withLock {
            if isClosed { throw closeReason ?? .closed }
            let id = nextStreamID
            nextStreamID &+= 2
            return id
        }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let request = TTRPCRequest(service: service, method: method, payload: payload, timeoutNano: nanoseconds)
        let frame = TTRPCFrame(streamID: streamID, type: .request, body: request.encoded())

        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.failCall(streamID: streamID, error: WireError.timedOut(method: "\(service)/\(method)"))
        }
        defer { timer.cancel() }

        let response: TTRPCResponse = try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if isClosed {
                lock.unlock()
                continuation.resume(throwing: closeReason ?? WireError.closed)
                return
            }
            pendingCalls[streamID] = continuation
            lock.unlock()
            do {
                try send(frame, on: role.callsOn)
            } catch {
                failCall(streamID: streamID, error: error)
            }
        }
        guard response.statusCode == TTRPC.StatusCode.ok else {
            throw WireError.status(code: response.statusCode, message: response.statusMessage)
        }
        return response.payload
    }

    /// Closes the socket; pending calls fail with `reason`. Idempotent.
    public func close(reason: WireError = .closed) {
        lock.lock()
        if isClosed {
            lock.unlock()
            return
        }
        isClosed = true
        closeReason = reason
        let calls = pendingCalls
        pendingCalls.removeAll()
        let waiters = closeWaiters
        closeWaiters.removeAll()
        // shutdown wakes the reader thread blocked in read(). It runs under
        // the lock because the reader closes the descriptor under the same
        // lock, so the number cannot be reused in between.
        if !descriptorClosed { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.unlock()

        for (_, continuation) in calls { continuation.resume(throwing: reason) }
        for waiter in waiters { waiter.resume(returning: reason) }
    }

    public var closed: Bool { lock.withLock { isClosed } }

    /// Suspends until the socket is closed and returns why.
    public func waitUntilClosed() async -> WireError {
        await withCheckedContinuation { continuation in
            lock.lock()
            if isClosed {
                let reason = closeReason ?? .closed
                lock.unlock()
                continuation.resume(returning: reason)
                return
            }
            closeWaiters.append(continuation)
            lock.unlock()
        }
    }

    // MARK: Writing

    /// Sends one ttrpc message on `connection`, split into mux frames.
    public func send(_ frame: TTRPCFrame, on connection: UInt32) throws {
        let bytes = Mux.encode(connection: connection, payload: try frame.encoded())
        try writeRaw(bytes)
    }

    /// Writes bytes to the socket as they are. Tests use it to send
    /// deliberately malformed streams.
    public func writeRaw(_ bytes: [UInt8]) throws {
        writeLock.lock()
        defer { writeLock.unlock() }
        if closed { throw closeReason ?? WireError.closed }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                let error = WireError.system(call: "send", errno: errno)
                close(reason: error)
                throw error
            }
            offset += written
        }
    }

    // MARK: Reading

    private func readLoop() {
        var mux = MuxDecoder()
        var streams: [UInt32: TTRPCStreamDecoder] = [
            role.servesOn: TTRPCStreamDecoder(),
            role.callsOn: TTRPCStreamDecoder(),
        ]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var reason = WireError.closed

        reading: while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                reason = closed ? .closed : .system(call: "read", errno: errno)
                break
            }
            if count == 0 {
                do {
                    try mux.finish()
                    for decoder in streams.values { try decoder.finish() }
                } catch let error as WireError {
                    if !closed { logger.warning("peer closed the socket mid-message", [("error", error.description)]) }
                    reason = error
                } catch {}
                break
            }
            do {
                let frames = try buffer.withUnsafeBytes { try mux.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                for frame in frames {
                    let messages = try streams[frame.connection]!.feed(frame.payload)
                    for message in messages { dispatch(message, connection: frame.connection) }
                }
            } catch let error as WireError {
                logger.error("closing NRI socket after a protocol violation", [("error", error.description)])
                reason = error
                break reading
            } catch {
                break reading
            }
        }
        close(reason: reason)
        lock.withLock {
            descriptorClosed = true
            _ = Glibc.close(fd)
        }
    }

    private func dispatch(_ message: TTRPCFrame, connection: UInt32) {
        let received = ContinuousClock.now
        switch (connection == role.servesOn, TTRPC.MessageType(rawValue: message.type)) {
        case (true, .request):
            handleRequest(message, received: received)
        case (false, .response):
            handleResponse(message)
        case (_, .data):
            logger.warning("ignoring ttrpc data message: NRI uses no streams",
                           [("connection", "\(connection)"), ("stream", "\(message.streamID)")])
        case (false, .request):
            logger.warning("rejecting request on the connection this side only calls on",
                           [("connection", "\(connection)"), ("stream", "\(message.streamID)")])
            reply(streamID: message.streamID, on: connection,
                  TTRPCResponse(statusCode: TTRPC.StatusCode.unimplemented,
                                statusMessage: "no service is served on connection \(connection)"))
        case (true, .response):
            logger.warning("ignoring response on the connection this side serves",
                           [("connection", "\(connection)"), ("stream", "\(message.streamID)")])
        case (_, nil):
            logger.warning("ignoring ttrpc message of unknown type",
                           [("type", "\(message.type)"), ("connection", "\(connection)"),
                            ("stream", "\(message.streamID)")])
        }
    }

    private func handleRequest(_ message: TTRPCFrame, received: ContinuousClock.Instant) {
        let request: TTRPCRequest
        do {
            request = try TTRPCRequest(decoding: message.body)
        } catch {
            logger.warning("rejecting undecodable ttrpc request",
                           [("stream", "\(message.streamID)"), ("error", "\(error)")])
            reply(streamID: message.streamID, on: role.servesOn,
                  TTRPCResponse(statusCode: TTRPC.StatusCode.invalidArgument, statusMessage: "\(error)"))
            return
        }
        let deadline = request.timeoutNano > 0 ? received + .nanoseconds(request.timeoutNano) : nil
        let incoming = IncomingRequest(streamID: message.streamID, request: request, received: received, deadline: deadline)
        guard let handler = lock.withLock({ self.handler }) else { return }
        let connection = role.servesOn
        Task { [self] in
            let response = await handler(incoming)
            reply(streamID: incoming.streamID, on: connection, response)
        }
    }

    private func handleResponse(_ message: TTRPCFrame) {
        let response: TTRPCResponse
        do {
            response = try TTRPCResponse(decoding: message.body)
        } catch {
            logger.warning("undecodable ttrpc response", [("stream", "\(message.streamID)"), ("error", "\(error)")])
            failCall(streamID: message.streamID, error: error)
            return
        }
        lock.lock()
        let continuation = pendingCalls.removeValue(forKey: message.streamID)
        lock.unlock()
        guard let continuation else {
            logger.warning("ignoring response for unknown or expired stream", [("stream", "\(message.streamID)")])
            return
        }
        continuation.resume(returning: response)
    }

    private func failCall(streamID: UInt32, error: Error) {
        lock.lock()
        let continuation = pendingCalls.removeValue(forKey: streamID)
        lock.unlock()
        continuation?.resume(throwing: error)
    }

    private func reply(streamID: UInt32, on connection: UInt32, _ response: TTRPCResponse) {
        do {
            try send(TTRPCFrame(streamID: streamID, type: .response, body: response.encoded()), on: connection)
        } catch {
            logger.warning("failed to send ttrpc response", [("stream", "\(streamID)"), ("error", "\(error)")])
        }
    }
}
