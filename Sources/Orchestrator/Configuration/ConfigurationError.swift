/// One invalid field of a configuration: the JSON path of the field
/// (`networks[1].interface`) and what is wrong with it, including the
/// accepted values.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// A configuration that Hydra rejects, with every problem found in it.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration's origin: a file path or `from NRI Configure`.
    public var source: String
    public var problems: [ConfigurationProblem]

    public init(source: String, problems: [ConfigurationProblem]) {
        self.source = source
        self.problems = problems
    }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        let lines = problems.map { "  " + $0.description }.joined(separator: "\n")
        return "invalid configuration \(source) (\(count)):\n" + lines
    }
}
