import Netlink

/// IPv4 arithmetic on 32-bit host-order values, as flannel's `ip.IP4` does it.
enum IPv4Math {
    /// Returns the host-order value of an IPv4 address, or nil for IPv6.
    static func value(_ address: IPAddress) -> UInt32? {
        guard address.isIPv4 else { return nil }
        return address.bytes.reduce(0) { ($0 << 8) | UInt32($1) }
    }

    static func address(_ value: UInt32) -> IPAddress {
        IPAddress(bytes: [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)])!
    }

    /// Returns the number of addresses in a prefix of `length` bits.
    static func size(prefixLength length: Int) -> UInt64 {
        UInt64(1) << UInt64(32 - length)
    }
}

extension IPNetwork {
    /// The etcd key form of a subnet that flannel uses: "10.240.5.0-24".
    var flannelKeyName: String {
        "\(networkAddress)-\(prefixLength)"
    }

    /// Parses flannel's key form "10.240.5.0-24", or returns nil.
    init?(flannelKeyName name: String) {
        let parts = name.split(separator: "-")
        guard parts.count == 2, let address = IPAddress(String(parts[0])), address.isIPv4,
              let length = Int(parts[1]) else { return nil }
        self.init(address: address, prefixLength: length)
    }

    /// Returns the address `offset` after the network address: `.1` for offset 1.
    func host(_ offset: UInt32) -> IPAddress {
        IPv4Math.address(IPv4Math.value(networkAddress)! &+ offset)
    }
}
