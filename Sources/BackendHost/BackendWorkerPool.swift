import Foundation
import Glibc

/// Dedicated threads for backend calls, kept for reuse instead of creating
/// a new `Thread` for each call.
///
/// Each job runs alone on its thread, as it would on a fresh one: a job goes
/// to an idle worker when there is one, otherwise to a new thread. A worker
/// that stays idle for `idleSeconds` exits. After each job a worker compares
/// its network namespace with the one it started in. When a backend entered
/// a pod namespace and did not return, the worker exits instead of taking
/// another job, so no call starts in a namespace an earlier call left behind.
final class BackendWorkerPool: @unchecked Sendable {
    // Sendable: `jobs` and `idleWorkers` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    /// Workers waiting in `nextJob`. Jobs are queued only while there are
    /// more idle workers than queued jobs, so every queued job has a worker.
    private var idleWorkers = 0
    private let threadName: String
    private let idleSeconds: Double

    init(threadName: String, idleSeconds: Double = 30) {
        self.threadName = threadName
        self.idleSeconds = idleSeconds
    }

    /// Runs `job` on an idle worker, or on a new thread when none is idle.
    func run(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if idleWorkers > jobs.count {
            jobs.append(job)
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        let slot = JobSlot(job)
        let thread = Thread { [self] in workerLoop(slot) }
        thread.name = threadName
        thread.start()
    }

    private func workerLoop(_ slot: JobSlot) {
        let namespace = Self.currentNetworkNamespace()
        while true {
            slot.runAndRelease()
            guard namespace != nil, Self.currentNetworkNamespace() == namespace else { return }
            guard let job = nextJob() else { return }
            slot.job = job
        }
    }

    /// Waits up to `idleSeconds` for a queued job and returns it, or nil when none came.
    private func nextJob() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        idleWorkers += 1
        let limit = Date(timeIntervalSinceNow: idleSeconds)
        while jobs.isEmpty && condition.wait(until: limit) {}
        idleWorkers -= 1
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }

    /// Reads the device and inode of the calling thread's network namespace
    /// (stat of /proc/thread-self/ns/net); nil when it cannot be read.
    private static func currentNetworkNamespace() -> [UInt64]? {
        var info = stat()
        guard stat("/proc/thread-self/ns/net", &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }
}

/// The job a worker runs next. The worker clears it before waiting for the
/// following job, so an idle worker keeps nothing the finished job captured
/// (such as the `LoadedBackend` it belongs to) alive.
private final class JobSlot: @unchecked Sendable {
    // Sendable: only the worker thread reads or writes `job` after `init`.
    var job: (@Sendable () -> Void)?

    init(_ job: @escaping @Sendable () -> Void) {
        self.job = job
    }

    /// Takes the job out of the slot and runs it.
    func runAndRelease() {
        guard let job else { return }
        self.job = nil
        job()
    }
}
