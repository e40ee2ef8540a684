import Dispatch
import Foundation

/// A closure running on a thread of its own, started at initialization, whose
/// outcome `wait()` collects. Backends use it to overlap file work such as
/// host-local allocation with netlink requests on the calling thread. It
/// never touches network namespaces: the thread stays in the process's
/// namespace.
///
/// The threads are reused: a thread that finished a closure waits up to
/// `BackgroundThreads.idleTimeout` for the next one before it exits, so a
/// busy node does not pay for a thread creation on every attach.
public final class BackgroundTask<Value: Sendable>: @unchecked Sendable {
    // `result` is written once by the thread before `done` is signalled and
    // read by `wait` only after it.
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)
    private var collected: Result<Value, Error>?

    /// Starts `body` at once on an idle background thread, or on a new one
    /// when none is idle.
    public init(_ body: @escaping @Sendable () throws -> Value) {
        BackgroundThreads.shared.run { [self] in
            result = Result { try body() }
            done.signal()
        }
    }

    /// Blocks until the closure returned and returns its value or rethrows
    /// its error. Call it from one thread; later calls return the same outcome.
    public func wait() throws -> Value {
        if collected == nil {
            done.wait()
            collected = result!
        }
        return try collected!.get()
    }
}

/// The threads behind `BackgroundTask`. A job goes to an idle thread, or to
/// a new thread when none is idle, so it never queues behind another job.
final class BackgroundThreads: @unchecked Sendable {
    static let shared = BackgroundThreads()

    /// How long an idle thread waits for a job before it exits.
    static let idleTimeout: TimeInterval = 10

    // Sendable: `jobs` and `idle` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var idle = 0

    func run(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if idle > jobs.count {
            jobs.append(job)
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        let thread = Thread { [self] in
            var next: (@Sendable () -> Void)? = job
            while let current = next {
                current()
                next = waitForJob()
            }
        }
        thread.name = "hydra-background"
        thread.start()
    }

    /// Returns the next job, or nil after `idleTimeout` without one.
    private func waitForJob() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        idle += 1
        let limit = Date(timeIntervalSinceNow: Self.idleTimeout)
        while jobs.isEmpty && condition.wait(until: limit) {}
        idle -= 1
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }
}
