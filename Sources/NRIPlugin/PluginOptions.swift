import Foundation

/// Options for reaching the runtime and identifying the plugin.
public struct PluginOptions: Sendable {
    /// The runtime's socket for externally started plugins.
    public static let defaultSocketPath = "/var/run/nri/nri.sock"
    /// The request timeout to assume when Configure announces none, as NRI
    /// v0.6 runtimes (containerd 1.7.16–1.7.25) do; their default is 2 s.
    public static let defaultRequestTimeout: Duration = .seconds(2)
    /// How long RegisterPlugin may take before the attempt counts as failed.
    public static let registrationTimeout: Duration = .seconds(5)
    /// First wait before reconnecting; doubled per failed attempt.
    public static let initialReconnectDelay: Duration = .milliseconds(500)
    /// Maximum wait between reconnection attempts.
    public static let maxReconnectDelay: Duration = .seconds(30)

    public var socketPath: String
    public var pluginName: String
    /// Two decimal digits; the runtime calls plugins in ascending order.
    public var pluginIndex: String
    /// A socket already connected by the runtime that launched this process
    /// (`NRI_PLUGIN_SOCKET`). It cannot be reopened: when it closes, the
    /// plugin exits and the runtime starts it again.
    public var preconnectedDescriptor: Int32?
    public var initialReconnectDelay: Duration
    public var maxReconnectDelay: Duration
    /// Time kept in reserve before the runtime's deadline for sending the
    /// response; see `answerBudget(requestTimeout:)`.
    public var minimumSafetyMargin: Duration

    public init(socketPath: String = PluginOptions.defaultSocketPath, pluginName: String = "hydra",
                pluginIndex: String = "50", preconnectedDescriptor: Int32? = nil,
                initialReconnectDelay: Duration = PluginOptions.initialReconnectDelay,
                maxReconnectDelay: Duration = PluginOptions.maxReconnectDelay,
                minimumSafetyMargin: Duration = .milliseconds(100)) {
        self.socketPath = socketPath
        self.pluginName = pluginName
        self.pluginIndex = pluginIndex
        self.preconnectedDescriptor = preconnectedDescriptor
        self.initialReconnectDelay = initialReconnectDelay
        self.maxReconnectDelay = maxReconnectDelay
        self.minimumSafetyMargin = minimumSafetyMargin
    }

    /// Applies `NRI_PLUGIN_SOCKET`, `NRI_PLUGIN_NAME` and `NRI_PLUGIN_IDX`,
    /// which a runtime sets when it launches the plugin from its plugin
    /// directory (`/opt/nri/plugins`).
    public mutating func applyRuntimeLaunchEnvironment(_ environment: [String: String]) throws {
        guard let socket = environment["NRI_PLUGIN_SOCKET"] else { return }
        guard let descriptor = Int32(socket), descriptor >= 0 else {
            throw PluginOptionsError.invalidSocketDescriptor(socket)
        }
        preconnectedDescriptor = descriptor
        if let name = environment["NRI_PLUGIN_NAME"] { pluginName = name }
        if let index = environment["NRI_PLUGIN_IDX"] { pluginIndex = index }
    }

    /// Checks the name and index the way the runtime would, before any
    /// connection is made.
    public func validate() throws {
        try Self.validate(name: pluginName)
        try Self.validate(index: pluginIndex)
    }

    public static func validate(name: String) throws {
        guard !name.isEmpty else { throw PluginOptionsError.invalidName(name, reason: "it is empty") }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw PluginOptionsError.invalidName(name, reason: "only ASCII letters, digits, '-', '_' and '.' are allowed")
        }
    }

    public static func validate(index: String) throws {
        guard index.count == 2, index.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw PluginOptionsError.invalidIndex(index)
        }
    }

    /// Returns how long the plugin may work on a request before it must
    /// respond: the request timeout minus a safety margin of a tenth of it,
    /// at least `minimumSafetyMargin`, at most half the timeout.
    public func answerBudget(requestTimeout: Duration) -> Duration {
        let tenth = requestTimeout / 10
        let margin = min(max(tenth, minimumSafetyMargin), requestTimeout / 2)
        return requestTimeout - margin
    }
}

public enum PluginOptionsError: Error, Equatable, CustomStringConvertible {
    case invalidName(String, reason: String)
    case invalidIndex(String)
    case invalidSocketDescriptor(String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason):
            return "invalid NRI plugin name \"\(name)\": \(reason)"
        case let .invalidIndex(index):
            return "invalid NRI plugin index \"\(index)\": expected exactly two decimal digits, for example \"50\""
        case let .invalidSocketDescriptor(value):
            return "invalid NRI_PLUGIN_SOCKET \"\(value)\": expected a file descriptor number"
        }
    }
}
