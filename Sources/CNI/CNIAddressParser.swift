import Foundation

/// Syntax checks for the addresses in CNI results, using `inet_pton`.
enum CNIAddressParser {
    /// Returns true for a dotted IPv4 address, or an IPv4-mapped IPv6 address
    /// (::ffff:a.b.c.d), which Go's net.IP.To4 also treats as IPv4.
    static func isIPv4(_ text: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return true }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
    }

    /// Returns true for an IPv4 or IPv6 address without prefix length.
    static func isIP(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Returns true for "address/prefix" with a prefix length valid for the address family.
    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), prefix >= 0,
              parts[1].allSatisfy(\.isNumber)
        else { return false }
        let host = String(parts[0])
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return prefix <= 32 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return prefix <= 128 }
        return false
    }
}
