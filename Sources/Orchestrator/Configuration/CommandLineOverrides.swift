/// The `hydra run` options that take precedence over the configuration
/// file and over a configuration from NRI Configure. A nil field leaves the
/// configured value.
public struct CommandLineOverrides: Sendable, Equatable {
    /// `--socket`: the NRI socket path.
    public var socket: String?
    /// `--state-dir`: the directory of the per-sandbox records.
    public var stateDir: String?
    /// `--backends-dir`: the directory of the backend libraries.
    public var backendsDir: String?

    public init(socket: String? = nil, stateDir: String? = nil, backendsDir: String? = nil) {
        self.socket = socket
        self.stateDir = stateDir
        self.backendsDir = backendsDir
    }

    /// Returns `configuration` with the overrides applied. Throws a
    /// `ConfigurationError` naming the option when a value is not an absolute path.
    public func applied(to configuration: HydraConfiguration) throws -> HydraConfiguration {
        var result = configuration
        var problems: [ConfigurationProblem] = []
        func check(_ value: String, option: String) {
            if !value.hasPrefix("/") {
                problems.append(ConfigurationProblem(path: option, message: "\"\(value)\" is not valid: expected an absolute path"))
            }
        }
        if let socket {
            check(socket, option: "--socket")
            result.nri.socket = socket
        }
        if let stateDir {
            check(stateDir, option: "--state-dir")
            result.stateDir = stateDir
        }
        if let backendsDir {
            check(backendsDir, option: "--backends-dir")
            result.backends.dir = backendsDir
        }
        guard problems.isEmpty else { throw ConfigurationError(source: "command line", problems: problems) }
        return result
    }
}
