import BackendAPI
import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog

/// An initialized backend: typed, async attach/detach/check/gc calls with a
/// deadline over the C table.
///
/// Each call runs on a dedicated thread of its own (reused from earlier calls
/// by `BackendWorkerPool`), never on a Swift concurrency or Dispatch pool
/// thread, because a backend may block or enter a network namespace on the
/// calling thread. When the deadline passes first, the
/// caller gets `.deadlineExceeded` at once. A C call cannot be interrupted,
/// so the thread keeps waiting for the backend, then frees the late output
/// and logs how late it was. Backends without HYDRA_BACKEND_THREAD_SAFE run one
/// call at a time.
public final class LoadedBackend: @unchecked Sendable {
    // Sendable: the table and instance are only used through the C
    // functions, which the ABI makes callable from any thread (serialized by
    // `serialLock` when the backend is not thread-safe).
    public let library: BackendLibrary
    public var name: String { library.name }
    public var types: [String] { library.types }
    public var path: String { library.path }

    private let instance: UnsafeMutableRawPointer?
    private let services: HostServicesProvider
    private let logger: Logger
    private let serialLock = NSLock()
    /// Guards `isShutDown` and `callsInFlight`, and signals when a call ends.
    private let state = NSCondition()
    private var isShutDown = false
    private var callsInFlight = 0
    /// The dedicated threads the calls run on, reused between calls.
    private let workers: BackendWorkerPool

    /// Calls the backend's init with `configuration` and a host services
    /// table for `stateDirectory` (created when missing).
    public init(library: BackendLibrary, configuration: JSONValue, stateDirectory: String,
                executor: CNIExecutor, logger: Logger) throws(BackendLoadError) {
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .stateDirectoryFailed(path: library.path, directory: stateDirectory, reason: "\(error)")
        }
        let backendLogger = logger.with([("backend", library.name)])
        let services = HostServicesProvider(backendName: library.name, stateDirectory: stateDirectory,
                                            executor: executor, logger: backendLogger)
        var instance: UnsafeMutableRawPointer?
        var message: UnsafeMutablePointer<CChar>?
        let code = library.table.pointee.`init`!(library.table, configuration.encodedString(),
                                                 UnsafePointer(services.table), &instance, &message)
        let messageText = message.map { String(cString: $0) }
        library.table.pointee.free_string!(message)
        guard code == 0 else {
            throw .initFailed(path: library.path, code: code, message: messageText ?? "no message")
        }
        self.library = library
        self.instance = instance
        self.services = services
        self.logger = backendLogger
        self.workers = BackendWorkerPool(threadName: "hydra-backend-\(library.name)")
        backendLogger.info("backend initialized", [("path", library.path), ("version", library.version),
                                                   ("types", library.types.joined(separator: ","))])
    }

    deinit {
        shutdown()
    }

    /// Attaches `request` and returns the backend's CNI result.
    public func attach(_ request: AttachRequest, deadline: Deadline) async throws(BackendCallError) -> CNIResult {
        // Key order means nothing to the backend, and sorting costs time on every pod start.
        let text = request.jsonValue().encodedString(sortedKeys: false)
        services.beginPodCall(request)
        defer { services.endPodCall(sandboxID: request.sandboxID) }
        let output = try await call(operation: "attach", podLogFields: request.podLogFields, deadline: deadline) { table, instance, deadline, result, message in
            table.pointee.attach!(instance, text, deadline, result, message)
        }
        return try parseResult(output, podLogFields: request.podLogFields)
    }

    /// Detaches `request`.
    public func detach(_ request: AttachRequest, deadline: Deadline) async throws(BackendCallError) {
        let text = request.jsonValue().encodedString(sortedKeys: false)
        services.beginPodCall(request)
        defer { services.endPodCall(sandboxID: request.sandboxID) }
        _ = try await call(operation: "detach", podLogFields: request.podLogFields, deadline: deadline) { table, instance, deadline, _, message in
            table.pointee.detach!(instance, text, deadline, message)
        }
    }

    /// Runs the backend's check for `request`.
    public func check(_ request: AttachRequest, deadline: Deadline) async throws(BackendCallError) {
        let text = request.jsonValue().encodedString()
        services.beginPodCall(request)
        defer { services.endPodCall(sandboxID: request.sandboxID) }
        _ = try await call(operation: "check", podLogFields: request.podLogFields, deadline: deadline) { table, instance, deadline, _, message in
            table.pointee.check!(instance, text, deadline, message)
        }
    }

    /// Runs the backend's gc; throws `.notSupported` when the backend has none.
    public func garbageCollect(_ request: GCRequest, deadline: Deadline) async throws(BackendCallError) {
        guard library.hasGarbageCollection else {
            throw BackendCallError(kind: .notSupported, backend: name, operation: "gc", code: 0, message: "")
        }
        let text = request.jsonValue().encodedString()
        _ = try await call(operation: "gc", podLogFields: [], deadline: deadline) { table, instance, deadline, _, message in
            table.pointee.gc!(instance, text, deadline, message)
        }
    }

    /// Sends raw request text to an operation, bypassing the typed request.
    /// The conformance checker uses it to send malformed JSON. Returns the
    /// result text (attach only).
    public func callRaw(operation: String, requestText: String, deadline: Deadline) async throws(BackendCallError) -> String? {
        try await call(operation: operation, podLogFields: [], deadline: deadline) { table, instance, deadline, result, message in
            switch operation {
            case "attach": return table.pointee.attach!(instance, requestText, deadline, result, message)
            case "detach": return table.pointee.detach!(instance, requestText, deadline, message)
            case "check": return table.pointee.check!(instance, requestText, deadline, message)
            default: return table.pointee.gc?(instance, requestText, deadline, message) ?? UInt32(CNIError.internalError)
            }
        }
    }

    /// Registers a call about to start; false once shutdown began.
    private func beginCall() -> Bool {
        state.lock()
        defer { state.unlock() }
        guard !isShutDown else { return false }
        callsInFlight += 1
        return true
    }

    private func endCall() {
        state.lock()
        callsInFlight -= 1
        state.broadcast()
        state.unlock()
    }

    /// Calls the backend's shutdown once, after every call in flight returned
    /// (the ABI promises the backend that order). Later calls do nothing, and
    /// the library stays loaded. When calls are still running after
    /// `gracePeriod` seconds, shutdown is not called at all and the backend's
    /// resources are left to process exit.
    public func shutdown(gracePeriod: Double = 5) {
        state.lock()
        let alreadyDone = isShutDown
        isShutDown = true
        let limit = Date(timeIntervalSinceNow: gracePeriod)
        while callsInFlight > 0 && state.wait(until: limit) {}
        let stillRunning = callsInFlight
        state.unlock()
        guard !alreadyDone else { return }
        guard stillRunning == 0 else {
            logger.error("backend shutdown skipped: calls still running after the grace period",
                         [("callsInFlight", "\(stillRunning)"), ("gracePeriodSeconds", "\(gracePeriod)")])
            return
        }
        library.table.pointee.shutdown!(instance)
        logger.info("backend shut down")
    }

    // MARK: - Calls

    private typealias RawCall = @Sendable (
        UnsafePointer<hydra_backend_v1>, UnsafeMutableRawPointer?, Int64,
        UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    ) -> UInt32

    /// Runs `body` on a worker thread and waits for it or the deadline,
    /// whichever comes first. Returns the result string the backend set.
    private func call(operation: String, podLogFields: [(String, String)], deadline: Deadline,
                      _ body: @escaping RawCall) async throws(BackendCallError) -> String? {
        if deadline.hasExpired {
            let error = BackendCallError(kind: .deadlineExceeded, backend: name, operation: operation,
                                         code: UInt32(HYDRA_HOST_ERR_DEADLINE_EXCEEDED),
                                         message: "the deadline passed before the call started")
            logger.warning("backend call not started",
                           [("operation", operation)] + podLogFields + [("error", error.description)])
            throw error
        }
        guard beginCall() else {
            throw BackendCallError(kind: .backendError, backend: name, operation: operation,
                                   code: UInt32(CNIError.tryAgainLater), message: "the backend was shut down")
        }

        let completion = CallCompletion()
        let started = MonotonicClock.now()
        let outcome: Result<String?, BackendCallError> = await withCheckedContinuation { continuation in
            completion.setContinuation(continuation)
            workers.run { [self] in
                let result = self.invoke(operation: operation, deadline: deadline, body)
                self.endCall()
                if !completion.finish(result) {
                    let lateMilliseconds = (MonotonicClock.now() - deadline.monotonicNanoseconds) / 1_000_000
                    self.logger.warning("backend call returned after its deadline; result discarded",
                                        [("operation", operation)] + podLogFields
                                            + [("lateMs", "\(lateMilliseconds)")])
                }
            }

            if let remaining = deadline.remainingNanoseconds {
                let timeout = BackendCallError(
                    kind: .deadlineExceeded, backend: name, operation: operation,
                    code: UInt32(HYDRA_HOST_ERR_DEADLINE_EXCEEDED),
                    message: "no response within \((deadline.monotonicNanoseconds - started) / 1_000_000) ms")
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(max(0, remaining)))) {
                    _ = completion.finish(.failure(timeout))
                }
            }
        }

        switch outcome {
        case .success(let output):
            return output
        case .failure(let error):
            logger.warning("backend call failed",
                           [("operation", operation)] + podLogFields + [("error", error.description)])
            throw error
        }
    }

    /// Makes the C call (holding `serialLock` for backends that are not
    /// thread-safe), copies and frees the output strings, and classifies the code.
    private func invoke(operation: String, deadline: Deadline, _ body: RawCall) -> Result<String?, BackendCallError> {
        var result: UnsafeMutablePointer<CChar>?
        var message: UnsafeMutablePointer<CChar>?
        let serialize = !library.isThreadSafe
        if serialize { serialLock.lock() }
        let code = body(library.table, instance, deadline.monotonicNanoseconds, &result, &message)
        if serialize { serialLock.unlock() }

        let resultText = result.map { String(cString: $0) }
        let messageText = message.map { String(cString: $0) } ?? "no message"
        library.table.pointee.free_string!(result)
        library.table.pointee.free_string!(message)

        if code == 0 { return .success(resultText) }
        let kind: BackendCallError.Kind = BackendCallError.isAllowedBackendCode(code) ? .backendError : .unknownErrorCode
        return .failure(BackendCallError(kind: kind, backend: name, operation: operation, code: code, message: messageText))
    }

    private func parseResult(_ output: String?, podLogFields: [(String, String)]) throws(BackendCallError) -> CNIResult {
        guard let output, !output.isEmpty else {
            throw invalidResult("attach succeeded but returned no result", podLogFields: podLogFields)
        }
        do {
            return try CNIResult(parsing: Data(output.utf8))
        } catch {
            throw invalidResult("\(error); result was: \(output.prefix(200))", podLogFields: podLogFields)
        }
    }

    private func invalidResult(_ message: String, podLogFields: [(String, String)]) -> BackendCallError {
        let error = BackendCallError(kind: .invalidResult, backend: name, operation: "attach",
                                     code: UInt32(HYDRA_HOST_ERR_INVALID_RESULT), message: message)
        logger.warning("backend returned an invalid result", podLogFields + [("error", error.description)])
        return error
    }
}

/// Resumes a call's continuation exactly once: with the backend's outcome or
/// with the deadline error, whichever comes first.
private final class CallCompletion: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Result<String?, BackendCallError>, Never>?
    private var done = false

    func setContinuation(_ continuation: CheckedContinuation<Result<String?, BackendCallError>, Never>) {
        lock.lock()
        self.continuation = continuation
        lock.unlock()
    }

    /// Resumes the caller with `outcome` unless it was already resumed.
    /// Returns whether this call did it.
    func finish(_ outcome: Result<String?, BackendCallError>) -> Bool {
        lock.lock()
        guard !done, let continuation else {
            lock.unlock()
            return false
        }
        done = true
        self.continuation = nil
        lock.unlock()
        continuation.resume(returning: outcome)
        return true
    }
}
