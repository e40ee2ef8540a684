import Foundation
import Glibc
import Netlink
import Netns
import NetworkSetup

/// Runs a command and returns its standard output; throws when it exits non-zero.
@discardableResult
func runCommand(_ path: String, _ arguments: [String]) throws -> String {
    let output = try Subprocess.run(path, arguments)
    guard output.status == 0 else {
        throw CommandFailed(command: ([path] + arguments).joined(separator: " "), status: output.status)
    }
    return output.standardOutput
}

struct CommandFailed: Error, CustomStringConvertible {
    let command: String
    let status: Int32
    var description: String { "\(command) exited with status \(status)" }
}

/// Parses the JSON output of `ip -j` or `bridge -j`.
func jsonArray(_ text: String) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
}

/// A named network namespace with a random suffix, created with `ip netns add`
/// and opened, with a netlink socket created inside it.
final class TestNamespace {
    let name: String
    let namespace: NetworkNamespace
    let socket: NetlinkSocket
    var path: String { "/run/netns/\(name)" }

    init() throws {
        name = "hynl-\(UInt32.random(in: 0...UInt32.max))"
        try runCommand("/usr/sbin/ip", ["netns", "add", name])
        namespace = try NetworkNamespace(path: "/run/netns/\(name)")
        socket = try namespace.run { try NetlinkSocket() }
    }

    deinit {
        _ = try? runCommand("/usr/sbin/ip", ["netns", "del", name])
    }

    /// Returns `ip -j -d link show DEVICE` inside the namespace, or nil when the device is missing.
    func ipLink(_ device: String) -> [String: Any]? {
        guard let text = try? runCommand("/usr/sbin/ip", ["-n", name, "-j", "-d", "link", "show", device]) else { return nil }
        return jsonArray(text).first
    }

    /// Returns `ip -j addr show DEVICE` address entries inside the namespace.
    func ipAddresses(_ device: String) -> [[String: Any]] {
        guard let text = try? runCommand("/usr/sbin/ip", ["-n", name, "-j", "addr", "show", device]),
              let entry = jsonArray(text).first
        else { return [] }
        return entry["addr_info"] as? [[String: Any]] ?? []
    }

    /// Returns `ip -j route show` (plus `-6` when asked) inside the namespace.
    func ipRoutes(ipv6: Bool = false) -> [[String: Any]] {
        let arguments = ["-n", name, "-j"] + (ipv6 ? ["-6"] : []) + ["route", "show"]
        return jsonArray((try? runCommand("/usr/sbin/ip", arguments)) ?? "[]")
    }
}

extension TestNamespace {
    /// Creates a link named `name` for tests that need any device: a veth
    /// whose peer `<name>p` stays in the same namespace. (Dummy devices need
    /// CONFIG_DUMMY, which not every test kernel has.)
    func addLink(_ name: String) throws {
        try socket.addVethPair(name: name, peerName: name + "p", peerNamespaceFD: nil)
    }

    /// Returns true when the kernel supports bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING).
    static let kernelHasBridgeVLANFiltering: Bool = {
        guard let probe = try? TestNamespace() else { return false }
        return (try? probe.socket.addBridge(name: "vlanprobe", vlanFiltering: true)) != nil
    }()
}
