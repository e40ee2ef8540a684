import Netlink
import NetworkSetup

/// flanneld's IP masquerade and forward rules (flannel `pkg/trafficmngr/iptables`),
/// in chains named for Hydra and the VNI (`HYDRA-FL<VNI>-POSTRTG`,
/// `HYDRA-FL<VNI>-FWD`) so they never collide with the `FLANNEL-*` chains of
/// a cluster whose default CNI is flannel. Made with the iptables binary in
/// the host namespace; every rule is checked before it is appended, so setup repeats safely.
struct FlannelMasquerade: Sendable {
    let host: HostNamespace
    let vni: UInt32

    static let comment = "hydra flannel masq"
    /// kube-proxy's mark for traffic it already masquerades.
    static let kubeProxyMark = "0x4000/0x4000"

    var natChain: String { "HYDRA-FL\(vni)-POSTRTG" }
    var forwardChain: String { "HYDRA-FL\(vni)-FWD" }

    /// Installs the masquerade chain for a node owning `subnet` of `network`:
    /// no NAT inside the network or for outside traffic arriving for this
    /// node's pods, NAT for pod traffic leaving the network (multicast
    /// excepted) and for host traffic entering it.
    func setupMasquerade(network: IPNetwork, subnet: IPNetwork) throws {
        let net = network.masked.description
        try ensureChain("nat", natChain)
        try appendUnique("nat", "POSTROUTING", ["-m", "comment", "--comment", Self.comment, "-j", natChain])
        let rules: [[String]] = [
            ["-m", "mark", "--mark", Self.kubeProxyMark, "-j", "RETURN"],
            ["-s", net, "-d", net, "-j", "RETURN"],
            ["!", "-s", net, "-d", subnet.masked.description, "-j", "RETURN"],
            ["-s", net, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE", "--random-fully"],
            ["!", "-s", net, "-d", net, "-j", "MASQUERADE", "--random-fully"],
        ]
        for rule in rules {
            try appendUnique("nat", natChain, ["-m", "comment", "--comment", Self.comment] + rule)
        }
    }

    /// Accepts forwarded traffic from and to `network` in the filter table,
    /// for hosts whose FORWARD policy is DROP.
    func setupForwarding(network: IPNetwork) throws {
        let net = network.masked.description
        try ensureChain("filter", forwardChain)
        try appendUnique("filter", "FORWARD", ["-m", "comment", "--comment", Self.comment, "-j", forwardChain])
        try appendUnique("filter", forwardChain, ["-s", net, "-m", "comment", "--comment", Self.comment, "-j", "ACCEPT"])
        try appendUnique("filter", forwardChain, ["-d", net, "-m", "comment", "--comment", Self.comment, "-j", "ACCEPT"])
    }

    /// Removes both chains and the jumps to them; missing ones are skipped.
    func teardown() {
        for (table, parent, chain) in [("nat", "POSTROUTING", natChain), ("filter", "FORWARD", forwardChain)] {
            _ = try? host.runCommand(iptables, ["--wait", "-t", table, "-D", parent, "-m", "comment", "--comment",
                                                Self.comment, "-j", chain])
            _ = try? host.runCommand(iptables, ["--wait", "-t", table, "-F", chain])
            _ = try? host.runCommand(iptables, ["--wait", "-t", table, "-X", chain])
        }
    }

    private let iptables = "/usr/sbin/iptables"

    private func ensureChain(_ table: String, _ chain: String) throws {
        let existing = try host.runCommand(iptables, ["--wait", "-t", table, "-S"])
        if !existing.split(separator: "\n").contains(where: { $0 == "-N \(chain)" }) {
            try host.runCommand(iptables, ["--wait", "-t", table, "-N", chain])
        }
    }

    private func appendUnique(_ table: String, _ chain: String, _ rule: [String]) throws {
        if (try? host.runCommand(iptables, ["--wait", "-t", table, "-C", chain] + rule)) != nil { return }
        try host.runCommand(iptables, ["--wait", "-t", table, "-A", chain] + rule)
    }
}
