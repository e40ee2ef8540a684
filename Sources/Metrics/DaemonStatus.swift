import Foundation

/// The document `/status` serves and `hydra status` prints: the daemon's
/// view of its runtime connection and of its backends.
public struct DaemonStatus: Codable, Sendable, Equatable {
    /// A backend library the daemon loaded.
    public struct Backend: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// The CNI `type` names the backend serves.
        public var types: [String]
        public var path: String

        public init(name: String, version: String, types: [String], path: String) {
            self.name = name
            self.version = version
            self.types = types
            self.path = path
        }
    }

    /// Hydra's version.
    public var version: String
    /// The NRI connection state (`disconnected`, `connecting`, `registered`, …).
    public var connection: String
    /// Reconnects to the runtime since start-up.
    public var reconnects: Int
    /// Whether `/readyz` returns 200, and the reason when it does not.
    public var ready: Bool
    public var notReadyReason: String?
    public var stateDir: String
    public var backends: [Backend]
    /// Backends the configuration names that failed to load (not required ones).
    public var failedBackends: [String]

    public init(version: String, connection: String, reconnects: Int, ready: Bool, notReadyReason: String?,
                stateDir: String, backends: [Backend], failedBackends: [String]) {
        self.version = version
        self.connection = connection
        self.reconnects = reconnects
        self.ready = ready
        self.notReadyReason = notReadyReason
        self.stateDir = stateDir
        self.backends = backends
        self.failedBackends = failedBackends
    }

    /// Encodes the document as JSON with sorted keys.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
