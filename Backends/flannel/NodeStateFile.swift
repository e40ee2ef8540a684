import Foundation
import Netlink

/// The node's persisted lease: network config text, subnet, etcd lease id
/// and VtepMAC. After a restart while etcd is unreachable, the node keeps
/// serving attaches from this subnet.
struct NodeState: Codable, Sendable, Equatable {
    var networkConfig: String
    var subnet: String
    var leaseID: Int64
    var vtepMAC: String
    var publicIP: String

    static func path(in directory: String) -> String { directory + "/node.json" }

    static func load(from directory: String) -> NodeState? {
        guard let data = FileManager.default.contents(atPath: path(in: directory)) else { return nil }
        return try? JSONDecoder().decode(NodeState.self, from: data)
    }

    /// Writes the state atomically (temporary file and rename).
    func save(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(in: directory)), options: .atomic)
    }
}
