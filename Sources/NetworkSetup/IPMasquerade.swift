import BackendSDK
import Netlink

/// Masquerade rules for a pod address, identical to those of the reference
/// plugins' `ip.SetupIPMasq` (containernetworking/plugins 1.1.1), made with
/// the iptables or ip6tables binary in the nat table:
///
/// - a chain named `CNI-` plus the first 24 hex digits of
///   sha512(network name + container id),
/// - in it `-d <pod address/prefix> -j ACCEPT` and `! -d <multicast> -j MASQUERADE`,
/// - and in POSTROUTING `-s <pod address> -j <chain>`,
///
/// every rule with the comment `name: "<network>" id: "<container id>"`.
public struct IPMasquerade: Sendable {
    public let host: HostNamespace

    public init(host: HostNamespace) {
        self.host = host
    }

    /// Returns the chain name the reference plugins use for a network and container.
    public static func chainName(network: String, containerID: String) -> String {
        String(("CNI-" + SHA512.hexDigest(network + containerID)).prefix(28))
    }

    /// Returns the rule comment, formatted like Go's `fmt.Sprintf("name: %q id: %q")`.
    public static func comment(network: String, containerID: String) -> String {
        "name: \(goQuoted(network)) id: \(goQuoted(containerID))"
    }

    /// Adds the chain and rules for `address`; rules already present are not
    /// added twice. Each iptables run waits for the xtables lock until
    /// `deadline` at most (whole seconds, at least 1, as `--wait` takes them).
    public func setup(address: IPNetwork, network: String, containerID: String,
                      deadline: Deadline = .none) throws {
        let chain = Self.chainName(network: network, containerID: containerID)
        let comment = Self.comment(network: network, containerID: containerID)
        let tool = Self.tool(for: address)
        let multicast = address.address.isIPv4 ? "224.0.0.0/4" : "ff00::/8"
        let wait = { Self.lockWait(until: deadline) }

        let chains = try host.runCommand(tool, wait() + ["-t", "nat", "-S"])
        if !chains.split(separator: "\n").contains(where: { $0 == "-N \(chain)" }) {
            try host.runCommand(tool, wait() + ["-t", "nat", "-N", chain])
        }
        try appendUnique(tool, chain, ["-d", address.description, "-j", "ACCEPT", "-m", "comment", "--comment", comment],
                         wait: wait())
        try appendUnique(tool, chain, ["!", "-d", multicast, "-j", "MASQUERADE", "-m", "comment", "--comment", comment],
                         wait: wait())
        try appendUnique(tool, "POSTROUTING",
                         ["-s", address.address.description, "-j", chain, "-m", "comment", "--comment", comment],
                         wait: wait())
    }

    /// Removes the POSTROUTING rule for `address` (in its current form and the
    /// older `-s address/prefix` form) and deletes the chain. Missing rules and
    /// a missing chain are not errors, so teardown can repeat. Each iptables
    /// run waits for the xtables lock until `deadline` at most, as in `setup`.
    public func teardown(address: IPNetwork, network: String, containerID: String,
                         deadline: Deadline = .none) throws {
        let chain = Self.chainName(network: network, containerID: containerID)
        let comment = Self.comment(network: network, containerID: containerID)
        let tool = Self.tool(for: address)
        let wait = { Self.lockWait(until: deadline) }
        for source in [address.address.description, address.description] {
            _ = try? host.runCommand(tool, wait() + ["-t", "nat", "-D", "POSTROUTING",
                                                     "-s", source, "-j", chain, "-m", "comment", "--comment", comment])
        }
        let chains = try host.runCommand(tool, wait() + ["-t", "nat", "-S"])
        guard chains.split(separator: "\n").contains(where: { $0 == "-N \(chain)" }) else { return }
        try host.runCommand(tool, wait() + ["-t", "nat", "-F", chain])
        try host.runCommand(tool, wait() + ["-t", "nat", "-X", chain])
    }

    /// Returns the `--wait` option: unbounded without a deadline, otherwise
    /// the whole seconds left, at least 1 and at most 60.
    private static func lockWait(until deadline: Deadline) -> [String] {
        deadline == .none ? ["--wait"] : ["--wait", String(max(1, Int(deadline.secondsLeft(max: 60))))]
    }

    private func appendUnique(_ tool: String, _ chain: String, _ rule: [String], wait: [String]) throws {
        if (try? host.runCommand(tool, wait + ["-t", "nat", "-C", chain] + rule)) != nil { return }
        try host.runCommand(tool, wait + ["-t", "nat", "-A", chain] + rule)
    }

    private static func tool(for address: IPNetwork) -> String {
        address.address.isIPv4 ? "/usr/sbin/iptables" : "/usr/sbin/ip6tables"
    }

    /// Quotes like Go's %q for the printable ASCII that network names and container ids use.
    private static func goQuoted(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
