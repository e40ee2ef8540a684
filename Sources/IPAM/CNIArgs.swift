/// Parses a CNI_ARGS string ("IgnoreUnknown=1;IP=10.1.0.5") the way libcni's
/// `types.LoadArgs` does: pairs separated by ";", each exactly one "=",
/// keys matched case-sensitively against `knownKeys`. Unknown keys are an
/// error unless `IgnoreUnknown` is "1" or "true".
///
/// Returns the known keys with their values (a repeated key keeps the last value).
func parseCNIArgs(_ text: String, knownKeys: Set<String>) throws -> [String: String] {
    guard !text.isEmpty else { return [:] }
    var values: [String: String] = [:]
    var unknownPairs: [String] = []
    var ignoreUnknown = false

    for pair in text.split(separator: ";", omittingEmptySubsequences: false) {
        let parts = pair.split(separator: "=", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw CNIErrorFactory.invalidConfig("ARGS: invalid pair \(quoteGo(String(pair)))")
        }
        let key = String(parts[0])
        let value = String(parts[1])
        if key == "IgnoreUnknown" {
            switch value.lowercased() {
            case "1", "true": ignoreUnknown = true
            case "0", "false": ignoreUnknown = false
            default:
                throw CNIErrorFactory.invalidConfig(
                    "ARGS: error parsing value of pair \(quoteGo(String(pair))): boolean unmarshal error: invalid input \(value)")
            }
        } else if knownKeys.contains(key) {
            values[key] = value
        } else {
            unknownPairs.append(String(pair))
        }
    }

    if !unknownPairs.isEmpty && !ignoreUnknown {
        let list = unknownPairs.map(quoteGo).joined(separator: " ")
        throw CNIErrorFactory.invalidConfig("ARGS: unknown args [\(list)]")
    }
    return values
}

/// Quotes a string like Go's %q for the printable ASCII that CNI_ARGS contains.
func quoteGo(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
