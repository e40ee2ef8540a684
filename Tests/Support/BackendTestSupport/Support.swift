import BackendSDK
import CNI
import Foundation
import Glibc
import Netlink
import NetworkSetup
import Netns

/// Runs a command and returns its standard output; throws when it exits non-zero.
@discardableResult
public func runCommand(_ path: String, _ arguments: [String]) throws -> String {
    let output = try Subprocess.run(path, arguments)
    guard output.status == 0 else {
        throw CommandError(command: ([path] + arguments).joined(separator: " "), status: output.status,
                           standardError: output.standardError)
    }
    return output.standardOutput
}

/// Parses the JSON output of `ip -j` or `bridge -j`.
public func jsonArray(_ text: String) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] ?? []
}

/// A random hex suffix for names that tests running in parallel must not share.
public func randomSuffix(_ digits: Int = 6) -> String {
    String(String(UInt64.random(in: 0...UInt64.max), radix: 16).suffix(digits))
}

/// A named network namespace (`ip netns add` with a random suffix), deleted on deinit.
public final class TestNamespace: @unchecked Sendable {
    public let name: String
    public let namespace: NetworkNamespace
    public let socket: NetlinkSocket
    public var path: String { "/run/netns/\(name)" }

    public init(_ prefix: String = "hyt") throws {
        name = "\(prefix)-\(randomSuffix(8))"
        try runCommand("/usr/sbin/ip", ["netns", "add", name])
        namespace = try NetworkNamespace(path: "/run/netns/\(name)")
        socket = try namespace.run { try NetlinkSocket() }
        try socket.setUp(index: try socket.link(named: "lo").index)
    }

    deinit {
        _ = try? runCommand("/usr/sbin/ip", ["netns", "del", name])
    }

    /// Runs a command inside the namespace with nsenter.
    @discardableResult
    public func run(_ path: String, _ arguments: [String]) throws -> String {
        try runCommand("/usr/bin/nsenter", ["--net=\(self.path)", path] + arguments)
    }

    /// `ip -j -d link show` of one device, or nil when it is missing.
    public func ipLink(_ device: String) -> [String: Any]? {
        guard let text = try? runCommand("/usr/sbin/ip", ["-n", name, "-j", "-d", "link", "show", device]) else { return nil }
        return jsonArray(text).first
    }

    /// Addresses of one device as "address/prefix", global scope only, sorted.
    public func addresses(_ device: String) -> [String] {
        guard let text = try? runCommand("/usr/sbin/ip", ["-n", name, "-j", "addr", "show", device]),
              let entry = jsonArray(text).first
        else { return [] }
        let info = entry["addr_info"] as? [[String: Any]] ?? []
        return info.filter { $0["scope"] as? String == "global" }
            .compactMap { item in
                guard let local = item["local"] as? String, let prefix = item["prefixlen"] as? Int else { return nil }
                return "\(local)/\(prefix)"
            }
            .sorted()
    }

    /// Routes of a family as "dst via gw dev scope proto" strings, sorted, for comparisons.
    public func routes(ipv6: Bool = false) -> [String] {
        let arguments = ["-n", name, "-j"] + (ipv6 ? ["-6"] : ["-4"]) + ["route", "show"]
        let entries = jsonArray((try? runCommand("/usr/sbin/ip", arguments)) ?? "[]")
        return entries.compactMap { route -> String? in
            let dst = route["dst"] as? String ?? "?"
            if ipv6 && dst.hasPrefix("fe80") { return nil }
            var text = dst
            if let gateway = route["gateway"] as? String { text += " via \(gateway)" }
            text += " dev \(route["dev"] as? String ?? "?")"
            if let scope = route["scope"] as? String { text += " scope \(scope)" }
            if let proto = route["protocol"] as? String { text += " proto \(proto)" }
            return text
        }.sorted()
    }

    /// Returns the nat table rules (`iptables -t nat -S`, or ip6tables) that contain `marker`.
    public func natRules(ipv6: Bool = false, containing marker: String) -> [String] {
        let tool = ipv6 ? "/usr/sbin/ip6tables" : "/usr/sbin/iptables"
        let text = (try? run(tool, ["--wait", "-t", "nat", "-S"])) ?? ""
        return text.split(separator: "\n").map(String.init).filter { $0.contains(marker) }
    }

    /// Polls until `device` is gone (a veth's host end disappears
    /// asynchronously after its peer's namespace is deleted); returns true when gone.
    public func waitUntilGone(_ device: String, seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? socket.linkIfPresent(named: device)) == .some(nil) { return true }
            usleep(20_000)
        }
        return false
    }
}

/// A private host-local data directory, removed on deinit.
public final class TestDataDirectory {
    public let path: String

    public init() {
        path = "/tmp/hydra-ipam-test-\(randomSuffix(10))"
        mkdir(path, 0o755)
    }

    deinit {
        _ = try? runCommand("/bin/rm", ["-rf", path])
    }

    /// Returns the addresses host-local has reserved for network `network`.
    public func reservedAddresses(network: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "\(path)/\(network)")) ?? []
        return entries.filter { !$0.hasPrefix("last_reserved_ip") && $0 != "lock" }.sorted()
    }
}

/// Builds an attach request for `config` (JSON text).
public func makeRequest(_ config: String, netns: String, ifName: String = "net1", sandboxID: String,
                 prevResult: JSONValue? = nil, runtimeConfig: [String: JSONValue] = [:]) throws -> AttachRequest {
    let value = try JSONValue(parsing: config)
    return AttachRequest(sandboxID: sandboxID, netns: netns, ifName: ifName,
                         networkName: value["name"]?.stringValue ?? "", config: value,
                         runtimeConfig: runtimeConfig, prevResult: prevResult)
}

/// Runs a reference CNI plugin from /usr/lib/cni the way a CNI runtime
/// does, inside `host`, and returns its parsed output.
public func runReferencePlugin(_ type: String, command: String, config: String, host: TestNamespace,
                        netns: String, ifName: String = "net1", containerID: String) throws -> JSONValue? {
    let environment = [
        "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns,
        "CNI_IFNAME": ifName, "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    let output = try Subprocess.run("/usr/bin/nsenter", ["--net=\(host.path)", "/usr/lib/cni/\(type)"],
                                    input: Array(config.utf8), environment: environment)
    guard output.status == 0 else {
        throw CommandError(command: "\(type) \(command)", status: output.status,
                           standardError: output.standardOutput + output.standardError)
    }
    let text = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : try JSONValue(parsing: text)
}

/// Returns true when `ping` from `source` reaches `address` within 2 seconds.
public func ping(from source: TestNamespace, _ address: String) -> Bool {
    let tool = address.contains(":") ? ["ping", "-6"] : ["ping"]
    return (try? source.run("/usr/bin/" + tool[0], Array(tool.dropFirst()) + ["-c", "1", "-W", "2", address])) != nil
}
