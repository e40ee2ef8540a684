import Dispatch
import Foundation

/// A closure running on a thread of its own, started at initialization, whose
/// outcome `wait()` collects. Backends use it to overlap file work such as
/// host-local allocation with netlink requests on the calling thread. It
/// never touches network namespaces: the thread stays in the process's
/// namespace.
public final class BackgroundTask<Value: Sendable>: @unchecked Sendable {
    // `result` is written once by the thread before `done` is signalled and
    // read by `wait` only after it.
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)
    private var collected: Result<Value, Error>?

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            result = Result { try body() }
            done.signal()
        }
        thread.name = "hydra-background"
        thread.start()
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
