import CLinux
import Foundation
import Glibc

/// A pool of dedicated OS threads that run closures inside network namespaces.
///
/// `setns(2)` changes the namespace of the calling thread only. Namespace
/// work therefore never runs on a Dispatch or Swift concurrency thread,
/// because a task can resume on another thread, and a pool thread left in a
/// pod namespace would run unrelated work there. Each worker here enters the target namespace, runs
/// one closure, and returns to the host namespace before taking the next job.
/// A worker that cannot return is discarded and its thread exits.
///
/// Don't call `run` again from inside a closure that is already running on an
/// executor thread: when all threads are busy, the inner call waits forever.
public final class NamespaceExecutor: @unchecked Sendable {
    /// The executor used by `NetworkNamespace.run`.
    public static let shared = NamespaceExecutor(maxThreads: 8)

    private let maxThreads: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [Job] = []
    private var threadCount = 0
    private var idleCount = 0
    /// The host namespace: the namespace of the process's main thread
    /// (/proc/self/ns/net), which Hydra never moves. Workers return here.
    private let hostNamespaceFD: Int32
    /// The errno of opening the host namespace when that failed.
    private let hostNamespaceError: Int32

    /// Creates an executor that starts threads on demand, at most `maxThreads`.
    public init(maxThreads: Int) {
        self.maxThreads = max(1, maxThreads)
        let fd = Glibc.open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        self.hostNamespaceFD = fd
        self.hostNamespaceError = fd < 0 ? errno : 0
    }

    /// Runs `body` in `namespace` on an executor thread and blocks the caller until it returns.
    public func run<T>(in namespace: NetworkNamespace, _ body: () throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { escapableBody in
            let box = ResultBox<T>()
            let done = DispatchSemaphore(value: 0)
            let job = Job(namespace: namespace, work: {
                box.result = Result { try escapableBody() }
            }, finish: { error in
                if let error { box.result = .failure(error) }
                done.signal()
            })
            try enqueue(job)
            done.wait()
            return try box.result!.get()
        }
    }

    /// Starts `body` in `namespace` on an executor thread and returns at once.
    /// The caller does other work meanwhile and collects the outcome with
    /// `NamespaceTask.wait()`, which blocks. Errors of entering the namespace
    /// surface from `wait()` too.
    public func start<T: Sendable>(in namespace: NetworkNamespace,
                                   _ body: @escaping @Sendable () throws -> T) -> NamespaceTask<T> {
        let task = NamespaceTask<T>()
        let job = Job(namespace: namespace, work: {
            task.box.result = Result { try body() }
        }, finish: { error in
            if let error { task.box.result = .failure(error) }
            task.done.signal()
        })
        do {
            try enqueue(job)
        } catch {
            task.box.result = .failure(error)
            task.done.signal()
        }
        return task
    }

    /// Runs `body` in `namespace` on an executor thread and resumes the caller when it returns.
    public func run<T: Sendable>(
        in namespace: NetworkNamespace, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let box = ResultBox<T>()
            let job = Job(namespace: namespace, work: {
                box.result = Result { try body() }
            }, finish: { error in
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume(with: box.result!)
                }
            })
            do {
                try enqueue(job)
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    private func enqueue(_ job: Job) throws(NetnsError) {
        // Without a host namespace to return to, no worker may enter anything.
        if hostNamespaceFD < 0 { throw .openFailed(path: "/proc/self/ns/net", errno: hostNamespaceError) }

        condition.lock()
        queue.append(job)
        let needsThread = idleCount == 0 && threadCount < maxThreads
        if needsThread { threadCount += 1 }
        condition.signal()
        condition.unlock()

        if needsThread {
            do {
                try startThread()
            } catch {
                condition.lock()
                threadCount -= 1
                let stranded = threadCount == 0
                if stranded, let index = queue.firstIndex(where: { $0 === job }) {
                    queue.remove(at: index)
                }
                condition.unlock()
                // With other threads alive the job still runs, so only a job
                // no thread will ever take fails.
                if stranded { throw error }
            }
        }
    }

    private func startThread() throws(NetnsError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            let executor = Unmanaged<NamespaceExecutor>.fromOpaque(argument!).takeRetainedValue()
            executor.workerLoop()
            return nil
        }, context)
        if status != 0 {
            Unmanaged<NamespaceExecutor>.fromOpaque(context).release()
            throw .threadStartFailed(errno: status)
        }
        pthread_detach(thread)
    }

    private func nextJob() -> Job {
        condition.lock()
        idleCount += 1
        while queue.isEmpty { condition.wait() }
        idleCount -= 1
        let job = queue.removeFirst()
        condition.unlock()
        return job
    }

    private func workerLoop() {
        // A thread inherits the namespace of the thread that created it, which
        // may itself be inside a pod namespace, so start from the host namespace.
        if hydra_setns(hostNamespaceFD, hydra_clone_newnet()) != 0 {
            // Every new thread would fail the same way, so fail the waiting
            // jobs instead of starting another thread.
            let code = errno
            exitWorker(replace: false, failing: NetnsError.returnFailed(path: "/proc/self/ns/net", errno: code))
            return
        }

        while true {
            let job = nextJob()
            if hydra_setns(job.namespace.fileDescriptor, hydra_clone_newnet()) != 0 {
                let code = errno
                job.complete(NetnsError.enterFailed(path: job.namespace.path, errno: code))
                continue
            }

            job.run()

            if hydra_setns(hostNamespaceFD, hydra_clone_newnet()) != 0 {
                // The thread is stuck in a foreign namespace: let it exit
                // rather than run anything else there.
                let code = errno
                exitWorker(replace: true, failing: nil)
                job.complete(NetnsError.returnFailed(path: job.namespace.path, errno: code))
                return
            }
            job.complete(nil)
        }
    }

    /// Ends the calling worker's share of the pool. With `replace`, a new
    /// thread takes over when jobs wait and no thread is idle. Otherwise, when
    /// this was the last thread, the waiting jobs fail with `error`.
    private func exitWorker(replace: Bool, failing error: NetnsError?) {
        condition.lock()
        threadCount -= 1
        let waiting = !queue.isEmpty && idleCount == 0
        let startReplacement = replace && waiting
        if startReplacement { threadCount += 1 }
        var failed: [Job] = []
        if !replace && threadCount == 0 {
            failed = queue
            queue.removeAll()
        }
        condition.unlock()

        for job in failed {
            job.complete(error)
        }
        if startReplacement {
            do {
                try startThread()
            } catch {
                condition.lock()
                threadCount -= 1
                condition.unlock()
            }
        }
    }
}

/// One closure queued for an executor thread.
///
/// The synchronous `run` hands in a closure made escapable with
/// `withoutActuallyEscaping`, which traps ("non-escaping closure has
/// escaped") when any reference to it is still alive once the caller's
/// body returns. The caller returns as soon as `finish` signals, while the
/// worker still holds this job, so `complete` drops the work closure before
/// it calls `finish`, on every path.
private final class Job: @unchecked Sendable {
    // `work` is touched only by the one worker that dequeued the job, or by
    // `enqueue` before any worker saw it.
    let namespace: NetworkNamespace
    /// Runs the caller's closure; called inside the namespace.
    private var work: (() -> Void)?
    /// Reports completion, with an error when entering or leaving the namespace failed.
    private let finish: (Error?) -> Void

    init(namespace: NetworkNamespace, work: @escaping () -> Void, finish: @escaping (Error?) -> Void) {
        self.namespace = namespace
        self.work = work
        self.finish = finish
    }

    /// Runs the work closure once and drops it.
    func run() {
        if let work {
            self.work = nil
            work()
        }
    }

    /// Drops the work closure if it has not run, then reports completion.
    func complete(_ error: Error?) {
        work = nil
        finish(error)
    }
}

/// A closure started with `NamespaceExecutor.start(in:_:)`.
public final class NamespaceTask<T: Sendable>: @unchecked Sendable {
    // `box` is written once by the executor thread before `done` is
    // signalled and read by `wait` only after it.
    fileprivate let box = ResultBox<T>()
    fileprivate let done = DispatchSemaphore(value: 0)
    private var outcome: Result<T, Error>?

    fileprivate init() {}

    /// Blocks until the closure returned and returns its value or rethrows its
    /// error. Call it from one thread; later calls return the same outcome.
    public func wait() throws -> T {
        if outcome == nil {
            done.wait()
            outcome = box.result!
        }
        return try outcome!.get()
    }
}

/// The result slot a job writes on the executor thread and the caller reads after completion.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
