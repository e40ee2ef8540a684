/// Runs operations on one sandbox one at a time, in arrival order, while
/// operations on different sandboxes run concurrently.
actor SandboxSerializer {
    private var busy: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Runs `body` once every earlier operation on `sandboxID` finished.
    func run<T: Sendable>(_ sandboxID: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire(sandboxID)
        defer { release(sandboxID) }
        return try await body()
    }

    private func acquire(_ sandboxID: String) async {
        guard busy.contains(sandboxID) else {
            busy.insert(sandboxID)
            return
        }
        await withCheckedContinuation { waiters[sandboxID, default: []].append($0) }
    }

    /// Hands the sandbox to the next waiter, which then owns it, or marks it free.
    private func release(_ sandboxID: String) {
        guard var queue = waiters[sandboxID], !queue.isEmpty else {
            busy.remove(sandboxID)
            return
        }
        let next = queue.removeFirst()
        waiters[sandboxID] = queue.isEmpty ? nil : queue
        next.resume()
    }
}
