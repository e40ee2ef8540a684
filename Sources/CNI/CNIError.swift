import Foundation

/// A CNI error result: the JSON object a plugin prints on failure, with the
/// spec's reserved codes as constants. Codes 1-99 are reserved by the spec,
/// 100 and above are for plugins.
public struct CNIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: UInt
    public var msg: String
    public var details: String

    public init(code: UInt, msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }

    // The reserved codes, named as in libcni (pkg/types).
    public static let incompatibleCNIVersion: UInt = 1
    public static let unsupportedField: UInt = 2
    public static let unknownContainer: UInt = 3
    public static let invalidEnvironmentVariables: UInt = 4
    public static let ioFailure: UInt = 5
    public static let decodingFailure: UInt = 6
    public static let invalidNetworkConfig: UInt = 7
    public static let invalidNetNS: UInt = 8
    public static let tryAgainLater: UInt = 11
    /// STATUS: the plugin cannot serve ADD requests now.
    public static let pluginNotAvailable: UInt = 50
    /// STATUS: the plugin is unavailable and existing containers may have limited connectivity.
    public static let limitedConnectivity: UInt = 51
    /// The code libcni's skel uses for a plugin error that carries no code of its own.
    public static let internalError: UInt = 999

    public var description: String {
        details.isEmpty ? "\(msg) (CNI error \(code))" : "\(msg): \(details) (CNI error \(code))"
    }

    /// Returns the error as the spec's JSON object: `cniVersion` (when given), `code`,
    /// `msg`, and `details` when not empty.
    public func jsonValue(cniVersion: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["code": .integer(Int64(code)), "msg": .string(msg)]
        if !details.isEmpty { object["details"] = .string(details) }
        if let cniVersion { object["cniVersion"] = .string(cniVersion) }
        return .object(object)
    }

    /// Encodes the error as the JSON object that `jsonValue(cniVersion:)` returns.
    public func encoded(cniVersion: String? = nil) -> Data {
        jsonValue(cniVersion: cniVersion).encoded()
    }

    /// Decodes an error object printed by a plugin. Throws a `CNIError` with
    /// code `decodingFailure` when the data is not such an object.
    public init(parsing data: Data) throws {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw CNIError(code: Self.decodingFailure, msg: "failed to decode CNI error", details: "\(error)")
        }
        guard case .object = value else {
            throw CNIError(code: Self.decodingFailure, msg: "failed to decode CNI error",
                           details: "expected a JSON object, got \(value.encodedString())")
        }
        guard let code = value["code"]?.int64Value, code >= 0 else {
            throw CNIError(code: Self.decodingFailure, msg: "failed to decode CNI error",
                           details: "missing or invalid \"code\" in \(value.encodedString())")
        }
        self.init(code: UInt(code), msg: value["msg"]?.stringValue ?? "",
                  details: value["details"]?.stringValue ?? "")
    }
}
