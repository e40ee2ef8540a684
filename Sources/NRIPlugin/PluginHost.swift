import Foundation
import HydraLog
import NRIWire

/// State of the plugin's connection to the runtime.
public enum ConnectionState: String, Sendable {
    case disconnected
    case connecting
    /// RegisterPlugin succeeded; Configure and Synchronize may still follow.
    case registered
    /// The last Synchronize part arrived: events flow.
    case synchronized
    case stopped
}

/// Reason `PluginHost.run()` returned.
public enum PluginExit: Sendable, Equatable {
    /// `stop()` was called (SIGTERM, SIGINT).
    case stopped
    /// The runtime closed a socket it had handed over in NRI_PLUGIN_SOCKET,
    /// which cannot be reopened; the runtime launches the plugin again.
    case preconnectedSocketClosed
    /// The options are invalid; nothing was connected.
    case invalidOptions(String)
}

/// The NRI plugin: connects to the runtime, registers, responds to Configure and
/// Synchronize, turns pod events into calls on a `PodLifecycleHandler`, and
/// reconnects with capped exponential backoff whenever the socket closes.
public final class PluginHost: @unchecked Sendable {
    /// The NRI version Hydra's schema follows, sent in RegisterPlugin.
    public static let nriVersion = "v0.12.2"
    /// The events Hydra subscribes to. Never empty: a mask of 0 would
    /// subscribe to every event.
    public static let subscribedEvents: [NRIEvent] = [.runPodSandbox, .stopPodSandbox, .removePodSandbox]

    private let options: PluginOptions
    private let handler: PodLifecycleHandler
    private let logger: Logger
    private let lock = NSLock()
    private var endpoint: MuxEndpoint?
    private var stopRequested = false
    private var stateValue: ConnectionState = .disconnected
    private var reconnectCount = 0
    private var router: RequestRouter?

    public init(options: PluginOptions, handler: PodLifecycleHandler, logger: Logger = Logger(component: "nri")) {
        self.options = options
        self.handler = handler
        self.logger = logger
    }

    public var state: ConnectionState { lock.withLock { stateValue } }
    /// Connections made after the first one.
    public var reconnects: Int { lock.withLock { reconnectCount } }
    /// The request timeout the runtime announced on the current connection.
    public var requestTimeout: Duration { lock.withLock { router?.requestTimeout } ?? PluginOptions.defaultRequestTimeout }

    /// Runs until `stop()` or, with a handed-over socket, until it closes.
    public func run() async -> PluginExit {
        do {
            try options.validate()
        } catch {
            logger.error("refusing to connect", [("error", "\(error)")])
            return .invalidOptions("\(error)")
        }

        var delay = options.initialReconnectDelay
        var attempt = 0
        while !isStopRequested {
            attempt += 1
            setState(.connecting)
            if attempt > 1 { lock.withLock { reconnectCount += 1 } }

            let fd: Int32
            if let preconnected = options.preconnectedDescriptor {
                if attempt > 1 {
                    setState(.stopped)
                    return .preconnectedSocketClosed
                }
                fd = preconnected
                logger.info("using the socket handed over by the runtime", [("fd", "\(fd)")])
            } else {
                do {
                    fd = try UnixSocket.connect(path: options.socketPath)
                    logger.info("connected to the runtime", [("socket", options.socketPath), ("attempt", "\(attempt)")])
                } catch {
                    logger.warning("failed to connect to the runtime, retrying",
                                   [("socket", options.socketPath), ("attempt", "\(attempt)"),
                                    ("error", "\(error)"), ("retryIn", "\(delay)")])
                    setState(.disconnected)
                    await sleepUnlessStopped(delay)
                    delay = min(delay * 2, options.maxReconnectDelay)
                    continue
                }
            }

            let registered = await serve(fd: fd)
            if registered { delay = options.initialReconnectDelay }
            setState(.disconnected)
            if isStopRequested { break }
            if options.preconnectedDescriptor != nil {
                logger.info("the runtime closed the handed-over socket; exiting so that it can launch Hydra again")
                setState(.stopped)
                return .preconnectedSocketClosed
            }
            logger.info("reconnecting to the runtime", [("retryIn", "\(delay)")])
            await sleepUnlessStopped(delay)
            delay = min(delay * 2, options.maxReconnectDelay)
        }
        setState(.stopped)
        return .stopped
    }

    /// Closes the connection and makes `run()` return. Safe from any thread.
    public func stop() {
        lock.lock()
        stopRequested = true
        let current = endpoint
        lock.unlock()
        current?.close()
    }

    // MARK: One connection

    /// Registers on `fd` and serves it until it closes. Returns whether
    /// registration succeeded.
    private func serve(fd: Int32) async -> Bool {
        let connectionLogger = logger
        let endpoint = MuxEndpoint(fd: fd, role: .plugin, logger: connectionLogger)
        let router = RequestRouter(handler: handler, options: options, logger: connectionLogger) { [weak self] in
            self?.setState(.synchronized)
        }
        lock.withLock {
            self.endpoint = endpoint
            self.router = router
        }
        defer { lock.withLock { self.endpoint = nil } }
        if isStopRequested {
            endpoint.close()
            return false
        }
        endpoint.start { request in await router.handle(request) }

        let registration = RegisterPluginRequest(pluginName: options.pluginName, pluginIndex: options.pluginIndex,
                                                 nriVersion: Self.nriVersion)
        do {
            _ = try await endpoint.call(service: NRIService.runtime, method: "RegisterPlugin",
                                        payload: registration.encoded(), timeout: PluginOptions.registrationTimeout)
        } catch {
            logger.error("RegisterPlugin failed", [("plugin", options.pluginName), ("index", options.pluginIndex),
                                                   ("error", "\(error)")])
            endpoint.close()
            _ = await endpoint.waitUntilClosed()
            return false
        }
        logger.info("registered with the runtime", [("plugin", options.pluginName), ("index", options.pluginIndex)])
        setState(.registered)

        let reason = await endpoint.waitUntilClosed()
        if !isStopRequested {
            logger.warning("connection to the runtime closed", [("reason", reason.description)])
        }
        return true
    }

    // MARK: Helpers

    private var isStopRequested: Bool { lock.withLock { stopRequested } }

    private func setState(_ state: ConnectionState) {
        lock.withLock { stateValue = state }
    }

    /// Sleeps for `duration`, waking early once `stop()` was called. Polls
    /// every 50 ms, which keeps the code free of continuations that would
    /// have to be resumed from stop().
    private func sleepUnlessStopped(_ duration: Duration) async {
        let end = ContinuousClock.now + duration
        while !isStopRequested, ContinuousClock.now < end {
            try? await Task.sleep(for: min(.milliseconds(50), end - ContinuousClock.now))
        }
    }
}
