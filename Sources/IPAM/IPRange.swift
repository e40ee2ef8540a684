import CNI

/// One host-local range: a subnet, the first and last address to hand out
/// (both inclusive) and the gateway, which is never handed out.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    public var subnet: IPNetwork
    public var rangeStart: IPAddress
    public var rangeEnd: IPAddress
    public var gateway: IPAddress

    /// Fills in and validates a range with the reference plugin's rules (host-local 1.1.1):
    /// - the subnet must have no host bits set and at least 4 addresses (/30, /126 or larger);
    /// - the gateway defaults to the network address + 1 and is not checked against the subnet;
    /// - rangeStart defaults to the subnet's address + 1 and must lie in the subnet;
    /// - rangeEnd defaults to the last address, minus one for IPv4 (the broadcast
    ///   address), and must lie in the subnet at or after rangeStart.
    /// An explicit rangeStart or rangeEnd may be the network or broadcast address,
    /// as in the reference plugin.
    public init(subnet: IPNetwork, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil,
                gateway: IPAddress? = nil) throws {
        let width = subnet.address.family.bitWidth
        if subnet.isMappedIPv6 {
            throw CNIErrorFactory.invalidConfig("IPNet IP and Mask version mismatch")
        }
        if subnet.prefixLength > width - 2 {
            throw CNIErrorFactory.invalidConfig("Network \(subnet) too small to allocate from")
        }
        if subnet.address != subnet.networkAddress {
            throw CNIErrorFactory.invalidConfig(
                "Network has host bits set. For a subnet mask of length \(subnet.prefixLength) "
                    + "the network address is \(subnet.networkAddress)")
        }
        self.subnet = subnet
        self.gateway = gateway ?? subnet.networkAddress.next

        let start = rangeStart ?? subnet.networkAddress.next
        // The reference checks rangeStart against the configured rangeEnd as well.
        guard subnet.contains(start), rangeEnd.map({ start <= $0 }) ?? true else {
            throw CNIErrorFactory.invalidConfig("RangeStart \(start) not in network \(subnet)")
        }
        self.rangeStart = start

        var defaultEnd = subnet.lastAddress
        if subnet.address.family == .v4 { defaultEnd = defaultEnd.previous }
        let end = rangeEnd ?? defaultEnd
        guard subnet.contains(end), end >= start else {
            throw CNIErrorFactory.invalidConfig("RangeEnd \(end) not in network \(subnet)")
        }
        self.rangeEnd = end
    }

    public var family: IPAddress.Family { subnet.address.family }

    /// Returns true when `address` is in the subnet and between rangeStart and rangeEnd.
    public func contains(_ address: IPAddress) -> Bool {
        subnet.contains(address) && address >= rangeStart && address <= rangeEnd
    }

    /// Returns true when the two ranges share an address.
    public func overlaps(_ other: IPRange) -> Bool {
        guard family == other.family else { return false }
        return contains(other.rangeStart) || contains(other.rangeEnd)
            || other.contains(rangeStart) || other.contains(rangeEnd)
    }

    /// "rangeStart-rangeEnd", the form the reference plugin uses in its messages.
    public var description: String { "\(rangeStart)-\(rangeEnd)" }
}

/// A list of ranges of one address family. host-local hands out one address
/// per range set, so a dual-stack configuration has one IPv4 and one IPv6 set.
public struct IPRangeSet: Sendable, Hashable, CustomStringConvertible {
    public var ranges: [IPRange]

    /// Validates the set: not empty, one address family, no overlapping ranges.
    public init(ranges: [IPRange]) throws {
        guard let first = ranges.first else { throw CNIErrorFactory.invalidConfig("empty range set") }
        for range in ranges where range.family != first.family {
            throw CNIErrorFactory.invalidConfig("mixed address families")
        }
        for (index, range) in ranges.enumerated() {
            for other in ranges[(index + 1)...] where range.overlaps(other) {
                throw CNIErrorFactory.invalidConfig("subnets \(range) and \(other) overlap")
            }
        }
        self.ranges = ranges
    }

    public var family: IPAddress.Family { ranges[0].family }

    /// Returns the first range containing `address`, or nil.
    public func range(for address: IPAddress) -> IPRange? {
        ranges.first { $0.contains(address) }
    }

    public func contains(_ address: IPAddress) -> Bool {
        range(for: address) != nil
    }

    public func overlaps(_ other: IPRangeSet) -> Bool {
        ranges.contains { range in other.ranges.contains { range.overlaps($0) } }
    }

    /// The ranges joined by ",", as in the reference plugin's messages.
    public var description: String { ranges.map(\.description).joined(separator: ",") }
}
