import CNI
import Foundation

/// Native host-local IPAM: allocates addresses from range sets and records
/// them in the same files as the reference `host-local` plugin, so Hydra and
/// the plugin can share one data directory. One value serves one network
/// configuration and is safe to use from many threads and processes at once,
/// because every operation takes an exclusive `flock` on the network's lock
/// file for its whole read-modify-write.
public struct HostLocalIPAM: Sendable {
    public let config: HostLocalConfig

    /// Parses the full network configuration (with its `ipam` section) and
    /// CNI_ARGS. Throws a `CNIError` for an invalid configuration.
    public init(networkConfig: JSONValue, cniArgs: String = "") throws {
        self.config = try HostLocalConfig(networkConfig: networkConfig, cniArgs: cniArgs)
    }

    public init(config: HostLocalConfig) {
        self.config = config
    }

    /// Allocates one address per range set for the attachment (CNI ADD).
    /// A requested address is used for the range set that contains it.
    /// Returns a result with `ips` (gateway, no interface index), the
    /// configured `routes` and the `dns` read from `resolvConf`, in the
    /// configuration's CNI version.
    ///
    /// Throws when an address of a range set is already allocated to the same
    /// container and interface, when a range set is exhausted ("no IP
    /// addresses available in range set: <ranges>"), when a requested address
    /// is taken, is a gateway or lies in no range set. On failure it releases
    /// what this call reserved.
    public func allocate(containerID: String, ifName: String) throws -> CNIResult {
        try validateAttachment(containerID: containerID, ifName: ifName)
        var result = CNIResult(cniVersion: IPAMField.resultVersion(for: config.cniVersion))
        if let resolvConf = config.resolvConf {
            result.dns = try parseResolvConf(path: resolvConf)
        }
        let store = try HostLocalStore(directory: config.networkDirectory)

        try store.withLock {
            var requested = config.requestedAddresses
            var reserved: [IPAddress] = []
            do {
                for (index, rangeSet) in config.rangeSets.enumerated() {
                    var requestedAddress: IPAddress?
                    if let position = requested.firstIndex(where: { rangeSet.contains($0) }) {
                        requestedAddress = requested.remove(at: position)
                    }
                    let (address, range): (IPAddress, IPRange)
                    do {
                        (address, range) = try allocate(
                            in: rangeSet, index: index, requested: requestedAddress,
                            containerID: containerID, ifName: ifName, store: store)
                    } catch let error as CNIError {
                        throw CNIError(code: error.code, msg: "failed to allocate for range \(index): \(error.msg)",
                                       details: error.details)
                    }
                    reserved.append(address)
                    result.ips.append(CNIResult.IPConfig(
                        address: IPNetwork(address: address, prefixLength: range.subnet.prefixLength).description,
                        gateway: range.gateway.description))
                }
                if !requested.isEmpty {
                    let list = requested.map(\.description).joined(separator: " ")
                    throw CNIErrorFactory.failed("failed to allocate all requested IPs: \(list)")
                }
            } catch {
                // NOTE: the reference plugin rolls back by releasing every
                // address of the container and interface, including ones
                // reserved by an earlier ADD. This releases only this call's.
                for address in reserved {
                    store.release(address: address, containerID: containerID, ifName: ifName)
                }
                throw error
            }
        }
        result.routes = config.routes
        return result
    }

    /// Allocates from one range set. Call with the store's lock held.
    private func allocate(in rangeSet: IPRangeSet, index: Int, requested: IPAddress?, containerID: String,
                          ifName: String, store: HostLocalStore) throws -> (IPAddress, IPRange) {
        if let requested {
            // The caller only passes an address that the set contains.
            let range = rangeSet.range(for: requested)!
            if requested == range.gateway {
                throw CNIErrorFactory.failed("requested ip \(requested) is subnet's gateway")
            }
            guard try store.reserve(containerID: containerID, ifName: ifName, address: requested,
                                    rangeSetIndex: index)
            else {
                throw CNIErrorFactory.failed(
                    "requested IP address \(requested) is not available in range set \(rangeSet)")
            }
            return (requested, range)
        }

        // The CNI specification forbids a second ADD for the same attachment.
        for existing in store.addresses(containerID: containerID, ifName: ifName) where rangeSet.contains(existing) {
            throw CNIErrorFactory.failed(
                "\(existing) has been allocated to \(containerID), duplicate allocation is not allowed")
        }

        var iterator = RangeIterator(rangeSet: rangeSet, lastReserved: store.lastReservedAddress(rangeSetIndex: index))
        while let (candidate, range) = iterator.next() {
            if try store.reserve(containerID: containerID, ifName: ifName, address: candidate, rangeSetIndex: index) {
                return (candidate, range)
            }
        }
        throw CNIErrorFactory.failed("no IP addresses available in range set: \(rangeSet)")
    }

    /// Releases every address of the attachment (CNI DEL). Succeeds when
    /// nothing is reserved, so it can be repeated. Files written by plugins
    /// before 0.7, which hold only the container ID, are released when the
    /// attachment has no file in the current form.
    public func release(containerID: String, ifName: String) throws {
        try validateAttachment(containerID: containerID, ifName: ifName)
        let store = try HostLocalStore(directory: config.networkDirectory)
        try store.withLock {
            store.release(containerID: containerID, ifName: ifName)
        }
    }

    /// Checks that at least one address is reserved for the attachment (CNI CHECK).
    public func check(containerID: String, ifName: String) throws {
        try validateAttachment(containerID: containerID, ifName: ifName)
        let store = try HostLocalStore(directory: config.networkDirectory)
        let found = try store.withLock {
            store.hasReservation(containerID: containerID, ifName: ifName)
        }
        guard found else {
            throw CNIErrorFactory.failed("host-local: Failed to find address added by container \(containerID)")
        }
    }

    /// Releases every address of this network whose attachment is not in
    /// `liveAttachments`, for a backend's garbage collection after a crash or a
    /// missed DEL. Returns the released addresses.
    ///
    /// NOTE: the reference host-local 1.1.1 has no GC command. This removes
    /// addresses that the reference plugin reserved in the same directory too,
    /// so pass every live attachment of the network, not only Hydra's.
    @discardableResult
    public func releaseAll(except liveAttachments: Set<HostLocalAttachment>) throws -> [IPAddress] {
        let store = try HostLocalStore(directory: config.networkDirectory)
        return try store.withLock {
            store.releaseAll(except: liveAttachments)
        }
    }

    /// Returns the addresses currently reserved by the attachment.
    public func reservedAddresses(containerID: String, ifName: String) throws -> [IPAddress] {
        let store = try HostLocalStore(directory: config.networkDirectory)
        return try store.withLock {
            store.addresses(containerID: containerID, ifName: ifName)
        }
    }
}

/// A container ID and interface name pair, the key of a host-local reservation.
public struct HostLocalAttachment: Sendable, Hashable {
    public var containerID: String
    public var ifName: String

    public init(containerID: String, ifName: String) {
        self.containerID = containerID
        self.ifName = ifName
    }
}
