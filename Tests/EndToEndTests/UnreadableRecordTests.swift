import Foundation
import Testing

@Suite("Unreadable records on the real kernel")
struct UnreadableRecordTests {
    /// A record with an unknown layout version and no top-level pod is moved
    /// aside, but its attachments still decode: reconcile detaches them once
    /// the sandbox is gone, releasing addresses, interfaces and rules.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func damagedRecordStillDetached() async throws {
        try await withEndToEnd { world in
            let networks = [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true, ipMasq: true),
                            world.bridgeNetwork("n2", index: 2, interface: "net2", isDefault: true)]
            let netns = try await world.makeNamespace("a")
            let run = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)],
                                                   steps: [["run": "a"]])
            #expect(run.simulation.outcomes("run", pod: "a").first?["ok"] as? Bool == true)
            await world.end(run)

            let path = "\(world.stateDir)/sandboxes/\(world.sandboxID("a")).json"
            var record = try #require(world.record(world.sandboxID("a")))
            record["version"] = 99
            record.removeValue(forKey: "pod")
            try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: path))

            let restart = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)], steps: [])
            // Reconcile moves the damaged file aside before it writes the salvaged
            // record, so an empty sandbox directory alone does not mean detached.
            _ = await eventually {
                world.recordFiles().isEmpty && world.reservedAddresses("n1").isEmpty
                    && world.reservedAddresses("n2").isEmpty
            }
            #expect(world.reservedAddresses("n1") == [])
            #expect(world.reservedAddresses("n2") == [])
            #expect(try await world.interfaces("a") == [])
            #expect(try await world.natRules() == [])
            #expect(world.recordFiles() == [])
            let movedAside = (try? FileManager.default.contentsOfDirectory(atPath: "\(world.stateDir)/unreadable")) ?? []
            #expect(movedAside.count == 1, "the damaged original stays for the operator")
            await world.end(restart)
        }
    }
}
