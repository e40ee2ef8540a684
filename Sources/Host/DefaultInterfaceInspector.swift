import Netlink
import Netns
import Orchestrator

/// Reads the default network's interface inside a pod's network namespace,
/// for runtimes that send no pod IPs (NRI before v0.8, as in containerd
/// 1.7.16 to 1.7.25). The network-status entry of the default network is
/// built from what it returns.
struct NetlinkDefaultInterfaceInspector: DefaultInterfaceInspector {
    /// Opens the namespace at `netnsPath` and, on a thread of the shared
    /// `NamespaceExecutor` that has entered it with setns, looks up
    /// `interface` (RTM_GETLINK) and its addresses (RTM_GETADDR). Returns
    /// the global-scope addresses without prefix length, IPv4 first, and
    /// the MAC. Throws `NetnsError` when the namespace is gone and
    /// `NetlinkError` when the interface does not exist.
    func inspect(netnsPath: String, interface: String) async throws -> (ips: [String], mac: String?) {
        let namespace = try NetworkNamespace(path: netnsPath)
        let found = try await namespace.run { () throws -> InspectedInterface in
            let socket = try NetlinkSocket()
            let link = try socket.link(named: interface)
            let addresses = try socket.addresses(index: link.index)
            // Link-local IPv6 addresses (fe80::/10) have link scope and are
            // left out, as the CNI result of the default network leaves them out.
            let global = addresses.filter { $0.isGlobal && !$0.isDuplicate }.map(\.network.address)
            let ordered = global.filter(\.isIPv4) + global.filter { !$0.isIPv4 }
            return InspectedInterface(ips: ordered.map(\.description), mac: link.mac?.description)
        }
        return (found.ips, found.mac)
    }
}

/// The result of `NetlinkDefaultInterfaceInspector.inspect` as it crosses
/// back from the namespace thread.
private struct InspectedInterface: Sendable {
    var ips: [String]
    var mac: String?
}
