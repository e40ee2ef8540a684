import CNetlink
import Glibc

/// A 48-bit Ethernet hardware address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Creates an address from exactly 6 bytes, or returns nil.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses "aa:bb:cc:dd:ee:ff" (colons or dashes, either case), or returns nil.
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Lowercase colon-separated text, as Go's net.HardwareAddr prints it.
    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// Returns a random locally administered unicast address.
    public static func random() -> MACAddress {
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255) }
        bytes[0] = (bytes[0] & 0xFE) | 0x02
        return MACAddress(bytes: bytes)!
    }

    /// Returns a new libnl link-layer address; the caller owns it (nl_addr_put).
    func makeNLAddress() -> OpaquePointer? {
        bytes.withUnsafeBytes { raw in nl_addr_build(AF_LLC, raw.baseAddress, raw.count) }
    }

    init?(nlAddress: OpaquePointer?) {
        guard let nlAddress, nl_addr_get_len(nlAddress) == 6,
              let data = nl_addr_get_binary_addr(nlAddress)
        else { return nil }
        self.bytes = Array(UnsafeRawBufferPointer(start: data, count: 6))
    }
}
