import CNI

/// Typed access to the keys of a plugin configuration. A key of the wrong
/// JSON type is an error, as it is for the reference plugins' JSON decoding.
public struct ConfigReader: Sendable {
    public let config: JSONValue

    public init(config: JSONValue) {
        self.config = config
    }

    /// Returns the string at `key`, or nil when the key is missing or null.
    public func string(_ key: String) throws(CNIError) -> String? {
        guard let value = config[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw invalid(key, "a string", value) }
        return text
    }

    /// Returns the boolean at `key`, false when missing or null.
    public func bool(_ key: String) throws(CNIError) -> Bool {
        guard let value = config[key], !value.isNull else { return false }
        guard let flag = value.boolValue else { throw invalid(key, "a boolean", value) }
        return flag
    }

    /// Returns the integer at `key`, 0 when missing or null.
    public func int(_ key: String) throws(CNIError) -> Int {
        guard let value = config[key], !value.isNull else { return 0 }
        guard let number = value.int64Value else { throw invalid(key, "an integer", value) }
        return Int(number)
    }

    private func invalid(_ key: String, _ expected: String, _ value: JSONValue) -> CNIError {
        CNIError(code: CNIError.invalidNetworkConfig,
                 msg: "failed to load netconf: \"\(key)\" must be \(expected), got \(value.encodedString())")
    }
}
