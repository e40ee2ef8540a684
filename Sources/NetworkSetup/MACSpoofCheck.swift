import CNI
import Foundation

/// The `macspoofchk` rules of the reference bridge plugin
/// (containernetworking/plugins pkg/link/spoofcheck.go): nftables rules in
/// table `bridge nat` that drop frames entering the bridge from the pod's
/// host veth unless their source MAC is the pod interface's MAC.
///
/// The table and its PREROUTING base chain (filter hook, priority -300) are
/// shared by all pods. Each pod gets a jump rule in PREROUTING matching its
/// host veth, a chain `cni-br-iface-<id>` and a chain `cni-br-iface-<id>-mac`
/// with the MAC match, every rule commented `macspoofchk-<id>`, where the id
/// is "<container id>-<interface name>". The rules are applied with the
/// `nft` binary.
public struct MACSpoofCheck: Sendable {
    public let host: HostNamespace
    /// "<container id>-<interface name>".
    public let id: String

    public init(host: HostNamespace, containerID: String, ifName: String) {
        self.host = host
        self.id = "\(containerID)-\(ifName)"
    }

    var interfaceChain: String { "cni-br-iface-\(id)" }
    var macChain: String { "\(interfaceChain)-mac" }
    var comment: String { "macspoofchk-\(id)" }

    /// Adds the rules letting only `mac` in from `hostInterface`. The chains
    /// are declared first, then flushed and filled in a second transaction,
    /// so that a repeated setup replaces the rules instead of doubling them.
    public func setup(hostInterface: String, mac: String) throws {
        try host.runCommand(Self.nft, ["-f", "-"], input: """
            add table bridge nat
            add chain bridge nat PREROUTING { type filter hook prerouting priority -300; policy accept; }
            add chain bridge nat \(interfaceChain)
            add chain bridge nat \(macChain)

            """)
        try host.runCommand(Self.nft, ["-f", "-"], input: """
            flush chain bridge nat \(interfaceChain)
            flush chain bridge nat \(macChain)
            add rule bridge nat PREROUTING iifname "\(hostInterface)" jump \(interfaceChain) comment "\(comment)"
            add rule bridge nat \(interfaceChain) jump \(macChain) comment "\(comment)"
            add rule bridge nat \(macChain) ether saddr \(mac) return comment "\(comment)"
            add rule bridge nat \(macChain) drop comment "\(comment)"

            """)
    }

    /// Removes the pod's jump rule and both chains. Missing rules and chains
    /// are not errors, so teardown can repeat.
    public func teardown() throws {
        var commands: [String] = []
        for handle in try jumpRuleHandles() {
            commands.append("delete rule bridge nat PREROUTING handle \(handle)")
        }
        let chains = (try? host.runCommand(Self.nft, ["list", "table", "bridge", "nat"])) ?? ""
        for chain in [interfaceChain, macChain] where chains.contains("chain \(chain) {") {
            commands.append("flush chain bridge nat \(chain)")
        }
        for chain in [interfaceChain, macChain] where chains.contains("chain \(chain) {") {
            commands.append("delete chain bridge nat \(chain)")
        }
        guard !commands.isEmpty else { return }
        try host.runCommand(Self.nft, ["-f", "-"], input: commands.joined(separator: "\n") + "\n")
    }

    /// Returns the handles of the PREROUTING rules carrying this pod's comment.
    private func jumpRuleHandles() throws -> [Int64] {
        guard let text = try? host.runCommand(Self.nft, ["-j", "list", "chain", "bridge", "nat", "PREROUTING"]) else {
            return []  // The table or chain doesn't exist, so there is no rule to delete.
        }
        let listing = try JSONValue(parsing: text)
        let entries = listing["nftables"]?.arrayValue ?? []
        return entries.compactMap { entry in
            guard let rule = entry["rule"], rule["comment"]?.stringValue == comment else { return nil }
            return rule["handle"]?.int64Value
        }
    }

    static let nft = "/usr/sbin/nft"
}
