import Foundation
import HydraLog
import NRIWire

/// Serves the Plugin service on one connection: decodes each request,
/// calls the `PodLifecycleHandler` with a deadline, and always sends a
/// response before the runtime's request timeout.
final class RequestRouter: @unchecked Sendable {
    private let handler: PodLifecycleHandler
    private let options: PluginOptions
    private let logger: Logger
    private let onSynchronized: @Sendable () -> Void
    private let lock = NSLock()
    private var announcedTimeout: Duration = PluginOptions.defaultRequestTimeout
    private var synchronizedPods: [PodSandbox] = []

    init(handler: PodLifecycleHandler, options: PluginOptions, logger: Logger,
         onSynchronized: @escaping @Sendable () -> Void) {
        self.handler = handler
        self.options = options
        self.logger = logger
        self.onSynchronized = onSynchronized
    }

    /// The request timeout from Configure, or the 2 s default.
    var requestTimeout: Duration { lock.withLock { announcedTimeout } }

    func handle(_ incoming: IncomingRequest) async -> TTRPCResponse {
        let request = incoming.request
        guard request.service == NRIService.plugin else {
            logger.warning("rejecting call to unknown service",
                           [("service", request.service), ("method", request.method)])
            return unimplemented(request)
        }
        do {
            switch request.method {
            case "Configure":
                return try await configure(ConfigureRequest(decoding: request.payload))
            case "Synchronize":
                return try synchronize(SynchronizeRequest(decoding: request.payload))
            case "Shutdown":
                logger.info("runtime sent Shutdown")
                return TTRPCResponse()
            case "RunPodSandbox":
                return await podEvent(.runPodSandbox, pod: try PodSandboxRequest(decoding: request.payload).pod,
                                      incoming: incoming)
            case "StopPodSandbox":
                return await podEvent(.stopPodSandbox, pod: try PodSandboxRequest(decoding: request.payload).pod,
                                      incoming: incoming)
            case "RemovePodSandbox":
                return await podEvent(.removePodSandbox, pod: try PodSandboxRequest(decoding: request.payload).pod,
                                      incoming: incoming)
            case "StateChange":
                let event = try StateChangeEvent(decoding: request.payload)
                guard let kind = NRIEvent(rawValue: event.event),
                      [.runPodSandbox, .stopPodSandbox, .removePodSandbox].contains(kind) else {
                    logger.debug("ignoring unsubscribed state change", [("event", "\(event.event)")])
                    return TTRPCResponse()
                }
                return await podEvent(kind, pod: event.pod, incoming: incoming)
            default:
                logger.debug("responding Unimplemented", [("method", request.method)])
                return unimplemented(request)
            }
        } catch {
            logger.warning("rejecting undecodable request payload",
                           [("method", request.method), ("error", "\(error)")])
            return TTRPCResponse(statusCode: TTRPC.StatusCode.invalidArgument,
                                 statusMessage: "invalid \(request.method) request: \(error)")
        }
    }

    // MARK: Configure and Synchronize

    private func configure(_ request: ConfigureRequest) async throws -> TTRPCResponse {
        let timeout = request.requestTimeoutMilliseconds > 0
            ? Duration.milliseconds(request.requestTimeoutMilliseconds) : PluginOptions.defaultRequestTimeout
        lock.withLock {
            announcedTimeout = timeout
            synchronizedPods = []
        }
        logger.info("configured by the runtime",
                    [("runtime", request.runtimeName), ("runtimeVersion", request.runtimeVersion),
                     ("nriVersion", request.nriVersion.isEmpty ? "unknown" : request.nriVersion),
                     ("requestTimeout", "\(timeout)"), ("hasConfig", "\(!request.config.isEmpty)")])
        if !request.config.isEmpty {
            do {
                try await handler.configure(runtimeConfig: request.config)
            } catch {
                logger.error("rejecting the configuration sent by the runtime", [("error", "\(error)")])
                return TTRPCResponse(statusCode: TTRPC.StatusCode.invalidArgument,
                                     statusMessage: "invalid Hydra configuration: \(error)")
            }
        }
        let response = ConfigureResponse(events: NRIEvent.mask(PluginHost.subscribedEvents))
        return TTRPCResponse(payload: response.encoded())
    }

    private func synchronize(_ request: SynchronizeRequest) throws -> TTRPCResponse {
        let complete: [PodSandbox]? = lock.withLock {
            synchronizedPods.append(contentsOf: request.pods)
            guard !request.more else { return nil }
            let pods = synchronizedPods
            synchronizedPods = []
            return pods
        }
        logger.info("synchronize part received",
                    [("pods", "\(request.pods.count)"), ("containers", "\(request.containers.count)"),
                     ("more", "\(request.more)")])
        if let complete {
            onSynchronized()
            // Reconciling may attach networks. It runs after the response so
            // that Synchronize itself stays inside the request timeout.
            let handler = self.handler
            Task { await handler.synchronize(pods: complete) }
        }
        return TTRPCResponse(payload: SynchronizeResponse(more: request.more).encoded())
    }

    // MARK: Pod events

    private func podEvent(_ event: NRIEvent, pod: PodSandbox?, incoming: IncomingRequest) async -> TTRPCResponse {
        guard let pod else {
            logger.warning("pod event without a pod", [("method", incoming.request.method)])
            if event == .runPodSandbox {
                return TTRPCResponse(statusCode: TTRPC.StatusCode.invalidArgument,
                                     statusMessage: "\(incoming.request.method) request carries no pod")
            }
            return TTRPCResponse()
        }

        let deadline = answerDeadline(for: incoming)
        let podLogger = logger.with([("pod", "\(pod.namespace)/\(pod.name)"), ("sandbox", pod.id)])
        let handler = self.handler

        switch event {
        case .runPodSandbox:
            let work = Task { try await handler.runPodSandbox(pod, deadline: deadline) }
            switch await race(work, deadline: deadline) {
            case .finished(.success):
                return TTRPCResponse()
            case let .finished(.failure(error)):
                podLogger.warning("RunPodSandbox failed", [("error", "\(error)")])
                return TTRPCResponse(statusCode: TTRPC.StatusCode.unknown, statusMessage: "hydra: \(error)")
            case .deadlinePassed:
                podLogger.error("RunPodSandbox did not finish before the deadline; failing the sandbox",
                                [("budget", "\(deadline - incoming.received)")])
                Task {
                    if case .success = await work.result {
                        podLogger.warning("late attach finished after the sandbox was failed; detaching it")
                        await handler.abandoned(pod)
                    }
                }
                return TTRPCResponse(statusCode: TTRPC.StatusCode.deadlineExceeded,
                                     statusMessage: "hydra: attaching networks did not finish within \(deadline - incoming.received)")
            }
        case .stopPodSandbox, .removePodSandbox:
            let work = Task {
                if event == .stopPodSandbox {
                    await handler.stopPodSandbox(pod, deadline: deadline)
                } else {
                    await handler.removePodSandbox(pod, deadline: deadline)
                }
            }
            if case .deadlinePassed = await race(work, deadline: deadline) {
                podLogger.warning("\(incoming.request.method) still running at the deadline; responding with success while the detach continues")
            }
            // A stop or remove never fails: CRI-O fails the pod's stop on an error.
            return TTRPCResponse()
        default:
            return TTRPCResponse()
        }
    }

    /// The moment the response must be sent: the earlier of the caller's
    /// `timeout_nano` and the announced request timeout, less the margin.
    private func answerDeadline(for incoming: IncomingRequest) -> ContinuousClock.Instant {
        var timeout = requestTimeout
        if let callerDeadline = incoming.deadline {
            timeout = min(timeout, callerDeadline - incoming.received)
        }
        return incoming.received + options.answerBudget(requestTimeout: timeout)
    }

    private enum RaceOutcome<Success: Sendable>: Sendable {
        case finished(Result<Success, Error>)
        case deadlinePassed
    }

    /// Waits for `work` or the deadline, whichever comes first, without
    /// cancelling `work`.
    private func race<Success: Sendable>(_ work: Task<Success, Error>, deadline: ContinuousClock.Instant) async -> RaceOutcome<Success> {
        let box = OnceBox<RaceOutcome<Success>>()
        return await withCheckedContinuation { continuation in
            box.setContinuation(continuation)
            Task {
                let result = await work.result
                box.resolve(.finished(result))
            }
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                box.resolve(.deadlinePassed)
            }
        }
    }

    private func race(_ work: Task<Void, Never>, deadline: ContinuousClock.Instant) async -> RaceOutcome<Void> {
        let throwing = Task<Void, Error> { await work.value }
        return await race(throwing, deadline: deadline)
    }

    private func unimplemented(_ request: TTRPCRequest) -> TTRPCResponse {
        TTRPCResponse(statusCode: TTRPC.StatusCode.unimplemented,
                      statusMessage: "\(request.service)/\(request.method) is not implemented by hydra")
    }
}

/// Resumes a continuation with the first value it is given.
private final class OnceBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, Never>?
    private var pending: Value?
    private var done = false

    func setContinuation(_ continuation: CheckedContinuation<Value, Never>) {
        lock.lock()
        if let pending, !done {
            done = true
            lock.unlock()
            continuation.resume(returning: pending)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    func resolve(_ value: Value) {
        lock.lock()
        guard !done else {
            lock.unlock()
            return
        }
        if let continuation {
            done = true
            self.continuation = nil
            lock.unlock()
            continuation.resume(returning: value)
        } else {
            pending = value
            lock.unlock()
        }
    }
}
