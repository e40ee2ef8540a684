import Foundation

/// The latest STATUS result of every configured network's chain, for the
/// readiness check. It is written by `ChainMaintenance` off the attach path and
/// read by `/readyz` without waiting on any plugin.
public final class ChainHealth: @unchecked Sendable {
    private let lock = NSLock()
    private var problems: [String: String] = [:]

    public init() {}

    /// Records the outcome of one network's STATUS: nil when it succeeded,
    /// else the reason, which names the network and the plugin. Returns
    /// true when the outcome differs from the previous one.
    @discardableResult
    public func update(network: String, problem: String?) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let changed = problems[network] != problem
        problems[network] = problem
        return changed
    }

    /// Forgets networks that are no longer configured.
    public func retain(networks: Set<String>) {
        lock.lock()
        defer { lock.unlock() }
        problems = problems.filter { networks.contains($0.key) }
    }

    /// Returns nil when every checked chain's STATUS succeeded, else the
    /// failing networks' reasons in network-name order, joined with "; ".
    public func notReadyReason() -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard !problems.isEmpty else { return nil }
        return problems.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; ")
    }
}
