#if canImport(Glibc)
import Glibc
#endif

/// Syntax checks shared by the configuration and the selection annotation.
/// Each returns nil for a valid value, or the reason it is invalid, written
/// to follow `"<value>" is not a valid <thing>: `.
enum NameRules {
    /// Checks an interface name against the kernel's rule (`dev_valid_name` in
    /// net/core/dev.c): 1 to 15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
    static func interfaceNameProblem(_ name: String) -> String? {
        let rule = "at most 15 characters, no '/', ':' or whitespace"
        if name.isEmpty { return "empty; expected \(rule)" }
        if name.utf8.count > 15 { return "\(name.utf8.count) characters long; expected \(rule)" }
        if name == "." || name == ".." { return "\".\" and \"..\" are reserved" }
        if name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) { return rule }
        return nil
    }

    /// Checks a Kubernetes namespace: a DNS-1123 label (lower-case letters, digits
    /// and '-', starting and ending with a letter or digit, at most 63 characters).
    static func namespaceProblem(_ name: String) -> String? {
        let rule = "expected a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)"
        if name.isEmpty || name.utf8.count > 63 { return rule }
        return isDNSLabel(Substring(name)) ? nil : rule
    }

    /// Checks a network or NetworkAttachmentDefinition name: a DNS-1123 subdomain
    /// (dot-separated DNS-1123 labels, at most 253 characters).
    static func networkNameProblem(_ name: String) -> String? {
        let rule = "expected a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)"
        if name.isEmpty || name.utf8.count > 253 { return rule }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy(isDNSLabel) ? nil : rule
    }

    private static func isDNSLabel(_ label: Substring) -> Bool {
        guard let first = label.first, let last = label.last, label.utf8.count <= 63 else { return false }
        let allowed = label.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
        return allowed && first != "-" && last != "-"
    }

    /// Returns true for an IPv4 or IPv6 address without prefix length
    /// (`inet_pton`).
    static func isIPAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &buffer) == 1 { return true }
        return inet_pton(AF_INET6, text, &buffer) == 1
    }

    /// Returns true for an address with an optional prefix length in range
    /// (`10.1.1.5/24`, `fd00::5/64`, `10.1.1.5`).
    static func isIPAddressOrCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, isIPAddress(String(parts[0])) else { return false }
        guard parts.count == 2 else { return true }
        let maximum = parts[0].contains(":") ? 128 : 32
        guard let prefix = Int(parts[1]), parts[1].allSatisfy(\.isASCII) else { return false }
        return (0...maximum).contains(prefix)
    }

    /// Returns true for a 48-bit MAC address written as six hex pairs
    /// separated by ':' or '-' (the forms Go's `net.ParseMAC` accepts for EUI-48).
    static func isMACAddress(_ text: String) -> Bool {
        let separator: Character = text.contains("-") ? "-" : ":"
        let pairs = text.split(separator: separator, omittingEmptySubsequences: false)
        guard pairs.count == 6 else { return false }
        return pairs.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }
}
