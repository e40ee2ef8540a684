import Foundation

/// A flag another thread sets to abort running etcd transfers, such as a
/// watch stream or a retry loop, at libcurl's next progress callback.
public final class EtcdCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public init() {}

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    public func cancel() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
