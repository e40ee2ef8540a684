import Foundation
import Glibc
import Netns
import Testing

/// Many threads call the synchronous `run` at once with closures that
/// capture their caller's locals. `withoutActuallyEscaping` traps the
/// process when a worker still references such a closure after the caller
/// returned, so finishing without a crash is the check, together with every
/// closure having run in the namespace.
@Test(.enabled(if: getuid() == 0, "needs root"))
func synchronousRunsFromManyThreads() async throws {
    let scratch = try ScratchNamespace()
    defer { scratch.remove() }
    let namespace = try NetworkNamespace(path: scratch.path)
    let executor = NamespaceExecutor(maxThreads: 3)
    let expected = namespace.inode

    let mismatches: Int = try await withCheckedThrowingContinuation { continuation in
        Thread {
            let counter = MismatchCounter()
            DispatchQueue.concurrentPerform(iterations: 400) { index in
                var seen: UInt64 = 0
                let doubled = try? executor.run(in: namespace) { () -> Int in
                    seen = threadNamespaceInode()
                    return index * 2
                }
                if doubled != index * 2 || seen != expected { counter.increment() }
            }
            continuation.resume(returning: counter.value)
        }.start()
    }

    #expect(mismatches == 0)
}

/// A namespace whose bind mount is deleted after opening stays alive
/// through its descriptor, so entering it still works.
@Test(.enabled(if: getuid() == 0, "needs root"))
func runEntersNamespaceAfterPathDeleted() async throws {
    let scratch = try ScratchNamespace()
    let namespace = try NetworkNamespace(path: scratch.path)
    scratch.remove()

    let inode = try await namespace.run { threadNamespaceInode() }

    #expect(inode == namespace.inode)
}

/// A counter shared by the threads of `synchronousRunsFromManyThreads`.
final class MismatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
