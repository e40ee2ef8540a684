import Foundation

/// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
/// parses as IPv4, the way Go's `net.IP.To4` canonicalizes it in the
/// reference host-local plugin, so both name the same file on disk.
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Family: Sendable, Hashable {
        case v4
        case v6

        /// The address width in bits: 32 or 128.
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
    }

    public let family: Family
    /// The address as an unsigned integer. IPv4 uses the low 32 bits.
    public let value: UInt128

    public init(family: Family, value: UInt128) {
        self.family = family
        self.value = family == .v4 ? value & 0xFFFF_FFFF : value
    }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text with `inet_pton`. Returns nil
    /// for anything else, including zone suffixes ("%eth0") and prefix lengths.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(family: .v4, value: UInt128(UInt32(bigEndian: v4.s_addr)))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let number = bytes.reduce(UInt128(0)) { ($0 << 8) | UInt128($1) }
        if number >> 32 == 0xFFFF {
            self.init(family: .v4, value: number & 0xFFFF_FFFF)
        } else {
            self.init(family: .v6, value: number)
        }
    }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        let count = family == .v4 ? 4 : 16
        return (0..<count).map { index in UInt8(truncatingIfNeeded: value >> (8 * (count - 1 - index))) }
    }

    /// The next address, wrapping from the highest address to zero like the
    /// reference plugins' `ip.NextIP`.
    public var next: IPAddress {
        IPAddress(family: family, value: value &+ 1)
    }

    /// The previous address, wrapping from zero to the highest address.
    public var previous: IPAddress {
        IPAddress(family: family, value: value &- 1)
    }

    /// Formats the address as Go's `net.IP.String` does: dotted IPv4, and
    /// RFC 5952 IPv6 (lower-case hex, the longest run of two or more zero
    /// groups, the first such run on a tie, shortened to "::").
    public var description: String {
        if family == .v4 {
            return bytes.map(String.init).joined(separator: ".")
        }
        let groups = (0..<8).map { index in UInt16(truncatingIfNeeded: value >> (16 * (7 - index))) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        if bestLength < 2 {
            return groups.map { String($0, radix: 16) }.joined(separator: ":")
        }
        let head = groups[..<bestStart].map { String($0, radix: 16) }.joined(separator: ":")
        let tail = groups[(bestStart + bestLength)...].map { String($0, radix: 16) }.joined(separator: ":")
        return head + "::" + tail
    }

    /// Orders IPv4 before IPv6, then by value.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return lhs.value < rhs.value
    }
}

/// An address with a prefix length, as written in CIDR notation ("10.1.0.5/24").
/// The host bits of `address` are kept, so `description` gives back the input.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int
    /// True when the text used IPv6 syntax for an IPv4-mapped address, such as
    /// "::ffff:10.0.0.0/104". Go keeps a 16-byte mask for it, which the
    /// reference host-local plugin rejects as a version mismatch.
    public let isMappedIPv6: Bool

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = max(0, min(prefixLength, address.family.bitWidth))
        self.isMappedIPv6 = false
    }

    /// Parses "address/prefix". Returns nil for a missing or out-of-range
    /// prefix length or an invalid address.
    public init?(cidr text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let prefix = Int(parts[1]), let address = IPAddress(String(parts[0]))
        else { return nil }
        let textIsIPv6 = parts[0].contains(":")
        let width = textIsIPv6 ? 128 : 32
        guard prefix <= width else { return nil }
        if textIsIPv6 && address.family == .v4 {
            // A mapped address keeps its IPv6 prefix length of 96 + n.
            guard prefix >= 96 else { return nil }
            self.address = address
            self.prefixLength = prefix - 96
            self.isMappedIPv6 = true
        } else {
            self.address = address
            self.prefixLength = prefix
            self.isMappedIPv6 = false
        }
    }

    /// The netmask as an integer of the family's width.
    public var mask: UInt128 {
        let width = address.family.bitWidth
        if prefixLength == 0 { return 0 }
        let ones = (UInt128.max >> (128 - width))
        return (ones << (width - prefixLength)) & ones
    }

    /// The first address of the network (the address with its host bits cleared).
    public var networkAddress: IPAddress {
        IPAddress(family: address.family, value: address.value & mask)
    }

    /// The last address of the network (all host bits set): the IPv4 broadcast address.
    public var lastAddress: IPAddress {
        let width = address.family.bitWidth
        let ones = (UInt128.max >> (128 - width))
        return IPAddress(family: address.family, value: (address.value & mask) | (~mask & ones))
    }

    /// The network itself, with host bits cleared.
    public var masked: IPNetwork {
        IPNetwork(address: networkAddress, prefixLength: prefixLength)
    }

    /// Returns true when `candidate` has the same family and lies inside the network.
    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.family == address.family && (candidate.value & mask) == (address.value & mask)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
