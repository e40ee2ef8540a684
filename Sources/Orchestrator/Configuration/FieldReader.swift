import CNI

/// Reads typed fields out of a JSON document and collects a problem, with
/// the field's JSON path, for every field that is missing, of the wrong type
/// or unknown. Readers return nil for an absent or invalid field, so the
/// caller keeps its default and goes on to find further problems.
struct FieldReader {
    private(set) var problems: [ConfigurationProblem] = []

    mutating func report(_ path: String, _ message: String) {
        problems.append(ConfigurationProblem(path: path, message: message))
    }

    /// Returns the members of an object and reports every key not in `allowed`.
    mutating func object(_ value: JSONValue, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard let members = value.objectValue else {
            report(path.isEmpty ? "(document)" : path, "expected an object, found \(Self.kind(of: value))")
            return nil
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            let accepted = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
            report(Self.join(path, key), "unknown field; accepted fields here: \(accepted)")
        }
        return members
    }

    mutating func string(_ members: [String: JSONValue], _ key: String, at path: String) -> String? {
        guard let value = members[key] else { return nil }
        guard let text = value.stringValue else {
            report(Self.join(path, key), "expected a string, found \(Self.kind(of: value))")
            return nil
        }
        return text
    }

    mutating func bool(_ members: [String: JSONValue], _ key: String, at path: String) -> Bool? {
        guard let value = members[key] else { return nil }
        guard let flag = value.boolValue else {
            report(Self.join(path, key), "expected true or false, found \(Self.kind(of: value))")
            return nil
        }
        return flag
    }

    mutating func integer(_ members: [String: JSONValue], _ key: String, at path: String,
                          range: ClosedRange<Int64>) -> Int? {
        guard let value = members[key] else { return nil }
        guard let number = value.int64Value, range.contains(number) else {
            report(Self.join(path, key),
                   "\(value) is not valid: expected an integer from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return Int(number)
    }

    mutating func array(_ members: [String: JSONValue], _ key: String, at path: String) -> [JSONValue]? {
        guard let value = members[key] else { return nil }
        guard let elements = value.arrayValue else {
            report(Self.join(path, key), "expected a list, found \(Self.kind(of: value))")
            return nil
        }
        return elements
    }

    mutating func stringList(_ members: [String: JSONValue], _ key: String, at path: String) -> [String]? {
        guard let elements = array(members, key, at: path) else { return nil }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue else {
                report("\(Self.join(path, key))[\(index)]", "expected a string, found \(Self.kind(of: element))")
                continue
            }
            strings.append(text)
        }
        return strings
    }

    mutating func stringMap(_ members: [String: JSONValue], _ key: String, at path: String) -> [String: String]? {
        guard let value = members[key] else { return nil }
        guard let object = value.objectValue else {
            report(Self.join(path, key), "expected an object of strings, found \(Self.kind(of: value))")
            return nil
        }
        var map: [String: String] = [:]
        for (name, element) in object.sorted(by: { $0.key < $1.key }) {
            guard let text = element.stringValue else {
                report(Self.join(Self.join(path, key), name), "expected a string, found \(Self.kind(of: element))")
                continue
            }
            map[name] = text
        }
        return map
    }

    /// Reports the field when `text` is not one of `accepted`.
    mutating func check(_ text: String, oneOf accepted: [String], at path: String) -> Bool {
        guard accepted.contains(text) else {
            let list = accepted.map { "\"\($0)\"" }.joined(separator: ", ")
            report(path, "\"\(text)\" is not valid: accepted values are \(list)")
            return false
        }
        return true
    }

    /// Reports the field when `text` is not an absolute path.
    mutating func checkAbsolutePath(_ text: String, at path: String) {
        if !text.hasPrefix("/") {
            report(path, "\"\(text)\" is not valid: expected an absolute path")
        }
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
