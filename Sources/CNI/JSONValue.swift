import Foundation

/// A JSON document held without loss: integers stay `Int64`, doubles stay
/// `Double`, and objects keep every key, so a CNI configuration decoded and
/// encoded again carries all fields that Hydra does not itself understand.
///
/// Object key order is not kept: JSON objects are unordered, and
/// `encoded(sortedKeys:)` writes keys sorted by default so output is stable.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Accessors

extension JSONValue {
    /// Looks up `key` in an object. Returns nil for a missing key or a value
    /// that is not an object. Setting a key on a non-object turns it into an
    /// object; setting nil removes the key.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            var members = objectValue ?? [:]
            members[key] = newValue
            self = .object(members)
        }
    }

    /// Returns the element at `index` of an array, or nil when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value of an integer. A double is not converted, the way Go's
    /// `encoding/json` rejects `1.0` for an `int` field.
    public var int64Value: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The value of an integer or a double, as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }
}

// MARK: - Parsing and encoding

extension JSONValue {
    /// Parses one JSON document (RFC 8259). Numbers without fraction or
    /// exponent that fit in `Int64` become `.integer`, all others `.double`.
    /// Throws `JSONParseError` naming the byte offset of the first error.
    public init(parsing data: Data) throws {
        var parser = JSONParser(bytes: Array(data))
        self = try parser.parseDocument()
    }

    /// Parses one JSON document from a string; see `init(parsing:)`.
    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// Encodes the value as compact UTF-8 JSON. Integers are written without
    /// a fraction and doubles always with one (or an exponent), so parsing the
    /// output gives back an equal value. NaN and infinity, which JSON cannot
    /// express, are written as null.
    public func encoded(sortedKeys: Bool = true) -> Data {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        JSONWriter.write(self, sortedKeys: sortedKeys, into: &output)
        return Data(output)
    }

    /// Returns the compact JSON text that `encoded(sortedKeys:)` produces.
    public func encodedString(sortedKeys: Bool = true) -> String {
        String(decoding: encoded(sortedKeys: sortedKeys), as: UTF8.self)
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes through a `Decoder`. Prefer `init(parsing:)` for exact numbers:
    /// a decoder such as `JSONDecoder` hides how a number was written.
    ///
    /// NOTE: with `JSONDecoder`, a number written `1.0` may come back as
    /// `.integer(1)`, because the decoder accepts it as an `Int64` first.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "value is not a JSON null, bool, number, string, array or object")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { encodedString() }
}
