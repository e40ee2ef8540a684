import CNetlink
import Glibc

/// An IPv4 or IPv6 address, stored as its network-order bytes.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Creates an address from 4 or 16 network-order bytes, or returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses dotted IPv4 or textual IPv6 with `inet_pton`, or returns nil when the text is neither.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// AF_INET or AF_INET6.
    public var family: Int32 { isIPv4 ? AF_INET : AF_INET6 }

    /// The all-zero address of the family: 0.0.0.0 or ::.
    public static func unspecified(family: Int32) -> IPAddress {
        IPAddress(bytes: [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16))!
    }

    /// The address text from `inet_ntop`, for IPv6 in its shortest form.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Returns a new libnl address with prefix length `prefixLength`; the caller owns it (nl_addr_put).
    func makeNLAddress(prefixLength: Int? = nil) -> OpaquePointer? {
        let address = bytes.withUnsafeBytes { raw in
            nl_addr_build(family, raw.baseAddress, raw.count)
        }
        if let address {
            nl_addr_set_prefixlen(address, Int32(prefixLength ?? bytes.count * 8))
        }
        return address
    }

    /// Reads an address from a libnl address, or returns nil for another family or an empty address.
    init?(nlAddress: OpaquePointer?) {
        guard let nlAddress, let data = nl_addr_get_binary_addr(nlAddress) else { return nil }
        let length = Int(nl_addr_get_len(nlAddress))
        guard length == 4 || length == 16 else { return nil }
        self.bytes = Array(UnsafeRawBufferPointer(start: data, count: length))
    }
}

/// An address with a prefix length, written in CIDR notation: "10.1.0.5/24".
/// The address keeps its host bits, as on an interface.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Creates a network, or returns nil when the prefix length exceeds the address width.
    public init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0, prefixLength <= address.bytes.count * 8 else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses "address/prefix", or returns nil when the text is not valid CIDR.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])),
              parts[1].allSatisfy(\.isASCII), let prefix = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: prefix)
    }

    /// The default route destination of a family: 0.0.0.0/0 or ::/0.
    public static func defaultRoute(family: Int32) -> IPNetwork {
        IPNetwork(address: .unspecified(family: family), prefixLength: 0)!
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// The network address: the address with its host bits cleared.
    public var networkAddress: IPAddress {
        IPAddress(bytes: maskedBytes(keepHostBits: false, fill: 0))!
    }

    /// The network in canonical form, host bits cleared: "10.1.0.0/24".
    public var masked: IPNetwork {
        IPNetwork(address: networkAddress, prefixLength: prefixLength)!
    }

    /// The IPv4 broadcast address (host bits set), as `ip addr add ... brd +` computes it.
    public var broadcastAddress: IPAddress {
        IPAddress(bytes: maskedBytes(keepHostBits: false, fill: 0xFF))!
    }

    /// Returns true when `other` lies inside this network.
    public func contains(_ other: IPAddress) -> Bool {
        guard other.bytes.count == address.bytes.count else { return false }
        return IPNetwork(address: other, prefixLength: prefixLength)!.networkAddress == networkAddress
    }

    private func maskedBytes(keepHostBits: Bool, fill: UInt8) -> [UInt8] {
        var result = address.bytes
        for index in result.indices {
            let networkBits = max(0, min(8, prefixLength - index * 8))
            let mask: UInt8 = networkBits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - networkBits))
            result[index] = (result[index] & mask) | (fill & ~mask)
        }
        return result
    }
}
