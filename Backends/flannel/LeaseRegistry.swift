import Etcd
import Foundation
import Netlink

/// flanneld's subnet registry in etcd: the network config at
/// `<prefix>/config` and one key per leased subnet under `<prefix>/subnets/`.
/// Every method makes blocking etcd calls.
struct LeaseRegistry: Sendable {
    let client: EtcdClient
    let prefix: String

    var subnetsPrefix: String { prefix + "/subnets/" }

    /// Reads and parses `<prefix>/config`.
    func readConfig() throws -> FlannelNetworkConfig {
        let key = prefix + "/config"
        guard let kv = try client.range(key).kvs.first else {
            throw FlannelError.invalidNetworkConfig("key \"\(key)\" not found in etcd; write the network config there first")
        }
        return try FlannelNetworkConfig(json: kv.stringValue)
    }

    /// Lists every subnet key with its decoded lease (nil when the value is
    /// not a lease) and the store revision of the listing.
    func listLeases() throws -> (entries: [(kv: EtcdKeyValue, subnet: IPNetwork?, lease: SubnetLease?)], revision: Int64) {
        let result = try client.range(subnetsPrefix, prefix: true)
        let entries = result.kvs.map { kv in
            (kv: kv,
             subnet: IPNetwork(flannelKeyName: String(kv.key.dropFirst(subnetsPrefix.count))),
             lease: SubnetLease(key: kv.key, value: kv.value, prefix: prefix))
        }
        return (entries, result.revision)
    }

    /// Acquires a subnet for `attributes.publicIP` the way flanneld does on
    /// start: the subnet already leased to this public IP, else
    /// `previousSubnet` (from the node's old subnet.env) when it is still
    /// free, else a random pick among the first 100 free subnets. Each write
    /// is a transaction on the key's version, so two nodes never get one
    /// subnet. Returns the subnet and the etcd lease id.
    func acquire(config: FlannelNetworkConfig, attributes: (publicIP: IPAddress, vtepMAC: MACAddress),
                 previousSubnet: IPNetwork?, ttl: Int64) throws -> (subnet: IPNetwork, leaseID: Int64) {
        for _ in 0..<10 {
            let listing = try listLeases()

            if let mine = listing.entries.first(where: { entry in
                entry.lease?.publicIP == attributes.publicIP && entry.subnet.map(config.accepts) == true
            }), let subnet = mine.subnet {
                if let leaseID = try write(subnet: subnet, config: config, attributes: attributes, ttl: ttl,
                                           expectedVersion: mine.kv.version) {
                    // The key now hangs on the new lease, so the old one has nothing left to keep alive.
                    if mine.kv.lease != 0 { try? client.revokeLease(id: mine.kv.lease) }
                    return (subnet, leaseID)
                }
                continue
            }

            // As flanneld does, a lease of this public IP that no longer fits the
            // network config is deleted so its subnet returns to the pool.
            for stale in listing.entries where stale.lease?.publicIP == attributes.publicIP {
                try client.delete(stale.kv.key)
            }
            let taken = Set(listing.entries.filter { $0.lease?.publicIP != attributes.publicIP }.compactMap { $0.subnet?.masked })
            if let previousSubnet, config.accepts(previousSubnet), !taken.contains(previousSubnet),
               let leaseID = try write(subnet: previousSubnet, config: config, attributes: attributes, ttl: ttl,
                                       expectedVersion: 0) {
                return (previousSubnet, leaseID)
            }

            let free = config.candidateSubnets().lazy.filter { !taken.contains($0) }.prefix(100)
            guard let pick = Array(free).randomElement() else {
                throw FlannelError.networkFull("all \(config.candidateSubnets().count) subnets of \(config.network) "
                                               + "between \(config.subnetMin) and \(config.subnetMax) are leased")
            }
            if let leaseID = try write(subnet: pick, config: config, attributes: attributes, ttl: ttl, expectedVersion: 0) {
                return (pick, leaseID)
            }
        }
        throw FlannelError.networkFull("another node took each chosen subnet first, 10 times in a row")
    }

    /// Grants a `ttl` lease and writes the subnet key with it if the key's
    /// version is `expectedVersion`. Returns the lease id, or nil (after
    /// revoking the unused lease) when the key changed meanwhile.
    func write(subnet: IPNetwork, config: FlannelNetworkConfig, attributes: (publicIP: IPAddress, vtepMAC: MACAddress),
               ttl: Int64, expectedVersion: Int64) throws -> Int64? {
        let lease = try client.grantLease(ttl: ttl)
        let value = SubnetLease(subnet: subnet, publicIP: attributes.publicIP, vni: config.backend.vni,
                                vtepMAC: attributes.vtepMAC).jsonValue
        let key = SubnetLease.key(prefix: prefix, subnet: subnet)
        if try client.putIfVersion(key, value: Data(value.utf8), lease: lease.id, expectedVersion: expectedVersion) {
            return lease.id
        }
        try? client.revokeLease(id: lease.id)
        return nil
    }
}
