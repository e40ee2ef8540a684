import Foundation
import Testing

/// `hydra status` without a running daemon: it still lists the state
/// directory's records, changes nothing there, and exits with 1.
@Suite struct StatusCommandTests {
    static let record = """
    {"version": 1, "sandboxID": "sandbox-1", "stopped": false,
     "pod": {"namespace": "team-a", "name": "web-0", "uid": "uid-1"},
     "netnsPath": "/var/run/netns/example",
     "attachments": [
       {"network": "storage", "definitionNamespace": "team-a", "interface": "net1", "backend": "macvlan",
        "netnsPath": "/var/run/netns/example", "config": {"cniVersion": "1.0.0", "type": "macvlan"},
        "runtimeConfig": {}, "defaultRoute": [], "cniArgs": {}, "sandboxID": "sandbox-1",
        "pod": {"namespace": "team-a", "name": "web-0", "uid": "uid-1"},
        "result": {"cniVersion": "1.0.0",
                   "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/example"}],
                   "ips": [{"address": "10.251.0.7/24", "interface": 0}]}}
     ]}
    """

    @Test func listsRecordsWithoutDaemon() async throws {
        let binaries = try binaryDirectory(requiring: ["hydra"])
        try await withTemporaryDirectory { work in
            let sandboxes = work + "/state/sandboxes"
            try FileManager.default.createDirectory(atPath: sandboxes, withIntermediateDirectories: true)
            try Self.record.write(toFile: sandboxes + "/sandbox-1.json", atomically: true, encoding: .utf8)
            try "{not json".write(toFile: sandboxes + "/sandbox-2.json", atomically: true, encoding: .utf8)
            try "partial".write(toFile: sandboxes + "/.sandbox-3.json.tmp", atomically: true, encoding: .utf8)
            // Nothing listens on this port once the probe socket is closed.
            let port = try freeLoopbackPort()

            let result = try await run(binaries + "/hydra", ["status", "--address", "127.0.0.1:\(port)",
                                                              "--state-dir", work + "/state"], in: work)
            #expect(result.status == 1)
            #expect(result.output.contains("daemon: not reachable"))
            #expect(result.output.contains("sandboxes in \(work)/state: 2"))
            #expect(result.output.contains("sandbox-1 pod=team-a/web-0 netns=/var/run/netns/example\n"))
            #expect(result.output.contains(
                "network=team-a/storage interface=net1 backend=macvlan ips=10.251.0.7/24 mac=02:00:00:00:00:01\n"))
            #expect(result.output.contains("sandbox-2.json: unreadable"))

            // Reading must not move the unreadable record or delete the temporary file.
            let names = try FileManager.default.contentsOfDirectory(atPath: sandboxes).sorted()
            #expect(names == [".sandbox-3.json.tmp", "sandbox-1.json", "sandbox-2.json"])
        }
    }

    @Test func emptyListenAddressIsReported() async throws {
        let binaries = try binaryDirectory(requiring: ["hydra"])
        try await withTemporaryDirectory { work in
            try #"{"metrics": {"listen": ""}, "stateDir": "\#(work)/none"}"#
                .write(toFile: work + "/hydra.json", atomically: true, encoding: .utf8)
            let result = try await run(binaries + "/hydra", ["status", "--config", work + "/hydra.json"], in: work)
            #expect(result.status == 1)
            #expect(result.output.contains("metrics.listen is empty"))
            #expect(result.output.contains("sandboxes in \(work)/none: 0"))
        }
    }
}
