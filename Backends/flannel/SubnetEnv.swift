import Foundation
import Netlink

/// The `subnet.env` file flanneld writes for the flannel CNI plugin and
/// other tools, in flanneld's format:
///
/// ```
/// FLANNEL_NETWORK=10.240.0.0/16
/// FLANNEL_SUBNET=10.240.5.1/24
/// FLANNEL_MTU=1450
/// FLANNEL_IPMASQ=false
/// ```
///
/// `FLANNEL_SUBNET` is the subnet's first host address (the bridge gateway)
/// with the subnet's prefix length.
public struct SubnetEnv: Sendable, Equatable {
    public var network: IPNetwork
    public var subnet: IPNetwork
    public var mtu: Int
    public var ipMasq: Bool

    public init(network: IPNetwork, subnet: IPNetwork, mtu: Int, ipMasq: Bool) {
        self.network = network
        self.subnet = subnet
        self.mtu = mtu
        self.ipMasq = ipMasq
    }

    /// The file text, one `KEY=value` line each, ending in a newline.
    public var text: String {
        "FLANNEL_NETWORK=\(network.masked)\n"
            + "FLANNEL_SUBNET=\(subnet.host(1))/\(subnet.prefixLength)\n"
            + "FLANNEL_MTU=\(mtu)\n"
            + "FLANNEL_IPMASQ=\(ipMasq)\n"
    }

    /// Writes the file atomically (a temporary file in the same directory,
    /// then rename), creating the directory, so readers never see half a file.
    public func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads the subnet recorded in an existing file (`FLANNEL_SUBNET`, as
    /// its masked network), or nil when the file or the line is missing.
    public static func previousSubnet(at path: String) -> IPNetwork? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("FLANNEL_SUBNET=") {
            return IPNetwork(String(line.dropFirst("FLANNEL_SUBNET=".count)))?.masked
        }
        return nil
    }
}
