import Foundation

/// A node of the YAML subset the manifests under deploy/ use: block
/// mappings and sequences by indentation, `- key: value` items, flow
/// sequences of scalars (`["a", "b"]`), literal block scalars (`|`),
/// plain, single- and double-quoted scalars, full-line comments and `---`
/// document separators. Anchors, tags, folded scalars and flow mappings
/// with content are not supported and fail the parse.
indirect enum YAMLNode: Equatable, CustomStringConvertible {
    case map([String: YAMLNode], keys: [String])
    case list([YAMLNode])
    case scalar(String)
    case null

    subscript(key: String) -> YAMLNode? {
        if case let .map(members, _) = self { return members[key] }
        return nil
    }

    subscript(index: Int) -> YAMLNode? {
        if case let .list(items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    var string: String? {
        if case let .scalar(text) = self { return text }
        return nil
    }

    var items: [YAMLNode] {
        if case let .list(items) = self { return items }
        return []
    }

    var keys: [String] {
        if case let .map(_, keys) = self { return keys }
        return []
    }

    var bool: Bool? { string.flatMap { ["true": true, "false": false][$0] } }

    var description: String {
        switch self {
        case let .map(members, keys): return "{" + keys.map { "\($0): \(members[$0]!)" }.joined(separator: ", ") + "}"
        case let .list(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .scalar(text): return "\"\(text)\""
        case .null: return "null"
        }
    }
}

struct YAMLError: Error, CustomStringConvertible {
    var description: String
}

/// Parses the YAML subset described at `YAMLNode`.
struct YAMLSubsetParser {
    private struct Line {
        var indent: Int
        var text: String
        var number: Int
    }

    private var lines: [Line] = []
    private var rawLines: [String] = []
    private var index = 0

    /// Parses every document of `text`; empty documents are skipped.
    static func documents(_ text: String) throws -> [YAMLNode] {
        var documents: [YAMLNode] = []
        var current: [String] = []
        for line in text.components(separatedBy: "\n") + ["---"] {
            if line.trimmingCharacters(in: .whitespaces) == "---" {
                var parser = YAMLSubsetParser(rawLines: current)
                if let document = try parser.parseDocument() { documents.append(document) }
                current = []
            } else {
                current.append(line)
            }
        }
        return documents
    }

    private init(rawLines: [String]) {
        self.rawLines = rawLines
        for (number, raw) in rawLines.enumerated() {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard !raw.hasPrefix("\t") else { continue }
            let indent = raw.prefix { $0 == " " }.count
            lines.append(Line(indent: indent, text: String(raw.dropFirst(indent)), number: number))
        }
    }

    private mutating func parseDocument() throws -> YAMLNode? {
        guard !lines.isEmpty else { return nil }
        let node = try parseBlock(indent: lines[0].indent)
        guard index == lines.count else {
            throw YAMLError(description: "line \(lines[index].number + 1): unexpected indentation: \(lines[index].text)")
        }
        return node
    }

    private mutating func parseBlock(indent: Int) throws -> YAMLNode {
        if lines[index].text.hasPrefix("- ") || lines[index].text == "-" {
            return try parseList(indent: indent)
        }
        return try parseMap(indent: indent)
    }

    private mutating func parseMap(indent: Int) throws -> YAMLNode {
        var members: [String: YAMLNode] = [:]
        var keys: [String] = []
        while index < lines.count, lines[index].indent == indent, !lines[index].text.hasPrefix("- ") {
            let line = lines[index]
            guard let (key, rest) = Self.splitKey(line.text) else {
                throw YAMLError(description: "line \(line.number + 1): expected \"key: value\", got \(line.text)")
            }
            guard members[key] == nil else {
                throw YAMLError(description: "line \(line.number + 1): duplicate key \"\(key)\"")
            }
            index += 1
            let value: YAMLNode
            if rest == "|" || rest == "|-" {
                value = .scalar(blockScalar(parentIndent: indent, afterLine: line.number, strip: rest == "|-"))
            } else if !rest.isEmpty {
                value = try Self.flowValue(rest, line: line.number)
            } else if index < lines.count, lines[index].indent > indent {
                value = try parseBlock(indent: lines[index].indent)
            } else if index < lines.count, lines[index].indent == indent, lines[index].text.hasPrefix("- ") {
                value = try parseList(indent: indent)
            } else {
                value = .null
            }
            members[key] = value
            keys.append(key)
        }
        return .map(members, keys: keys)
    }

    private mutating func parseList(indent: Int) throws -> YAMLNode {
        var items: [YAMLNode] = []
        while index < lines.count, lines[index].indent == indent,
              lines[index].text.hasPrefix("- ") || lines[index].text == "-" {
            let line = lines[index]
            let content = String(line.text.dropFirst(1)).trimmingCharacters(in: .whitespaces)
            if content.isEmpty {
                index += 1
                items.append(index < lines.count && lines[index].indent > indent
                             ? try parseBlock(indent: lines[index].indent) : .null)
            } else if Self.splitKey(content) != nil {
                // `- key: value` opens a mapping whose keys sit two columns in.
                lines[index] = Line(indent: indent + 2, text: content, number: line.number)
                items.append(try parseMap(indent: indent + 2))
            } else {
                index += 1
                items.append(try Self.flowValue(content, line: line.number))
            }
        }
        return .list(items)
    }

    /// The lines after a `key: |` line that are indented deeper than the key.
    private mutating func blockScalar(parentIndent: Int, afterLine number: Int, strip: Bool) -> String {
        var collected: [String] = []
        var blockIndent: Int?
        var rawIndex = number + 1
        while rawIndex < rawLines.count {
            let raw = rawLines[rawIndex]
            let indent = raw.prefix { $0 == " " }.count
            if raw.trimmingCharacters(in: .whitespaces).isEmpty {
                collected.append("")
            } else if indent > parentIndent {
                blockIndent = blockIndent ?? indent
                collected.append(String(raw.dropFirst(min(indent, blockIndent!))))
            } else {
                break
            }
            rawIndex += 1
        }
        while index < lines.count, lines[index].number < rawIndex { index += 1 }
        while collected.last == "" { collected.removeLast() }
        return collected.joined(separator: "\n") + (strip ? "" : "\n")
    }

    /// Splits `key: value` (or `key:`), with a plain or quoted key.
    static func splitKey(_ text: String) -> (String, String)? {
        if text.hasPrefix("\"") || text.hasPrefix("'") {
            let quote = text.first!
            guard let end = text.dropFirst().firstIndex(of: quote) else { return nil }
            let after = text[text.index(after: end)...]
            guard after.hasPrefix(":") else { return nil }
            return (String(text[text.index(after: text.startIndex)..<end]),
                    after.dropFirst().trimmingCharacters(in: .whitespaces))
        }
        guard let colon = text.range(of: ": ") ?? (text.hasSuffix(":") ? text.range(of: ":", options: .backwards) : nil) else {
            return nil
        }
        let key = String(text[..<colon.lowerBound])
        guard !key.isEmpty, !key.contains(" ") || key.hasPrefix("\"") else { return nil }
        guard !key.hasPrefix("["), !key.hasPrefix("{") else { return nil }
        return (key, text[colon.upperBound...].trimmingCharacters(in: .whitespaces))
    }

    /// A scalar or a flow sequence of scalars.
    static func flowValue(_ text: String, line: Int) throws -> YAMLNode {
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw YAMLError(description: "line \(line + 1): unterminated flow sequence") }
            let body = text.dropFirst().dropLast()
            var items: [YAMLNode] = []
            var current = ""
            var quote: Character?
            for character in body {
                if let open = quote {
                    current.append(character)
                    if character == open { quote = nil }
                } else if character == "\"" || character == "'" {
                    quote = character
                    current.append(character)
                } else if character == "," {
                    items.append(.scalar(try unquote(current.trimmingCharacters(in: .whitespaces), line: line)))
                    current = ""
                } else {
                    current.append(character)
                }
            }
            let last = current.trimmingCharacters(in: .whitespaces)
            if !last.isEmpty { items.append(.scalar(try unquote(last, line: line))) }
            return .list(items)
        }
        if text == "{}" { return .map([:], keys: []) }
        if text.hasPrefix("{") || text.hasPrefix("&") || text.hasPrefix("*") || text.hasPrefix("!") || text.hasPrefix(">") {
            throw YAMLError(description: "line \(line + 1): unsupported YAML construct: \(text)")
        }
        return .scalar(try unquote(text, line: line))
    }

    static func unquote(_ text: String, line: Int) throws -> String {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw YAMLError(description: "line \(line + 1): unterminated string \(text)") }
            return String(text.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
                .replacingOccurrences(of: "\\\\", with: "\\")
        }
        if text.hasPrefix("'") {
            guard text.count >= 2, text.hasSuffix("'") else { throw YAMLError(description: "line \(line + 1): unterminated string \(text)") }
            return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        if let hash = text.range(of: " #") { return String(text[..<hash.lowerBound]) }
        return text
    }
}
