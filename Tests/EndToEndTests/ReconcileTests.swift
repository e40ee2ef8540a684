import Foundation
import Testing

@Suite("Reconcile on the real kernel")
struct ReconcileTests {
    /// While hydra is down, pod a goes away, pod b keeps running and pod c
    /// starts. The restarted hydra detaches a, leaves b, attaches c.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func podsChangedWhileHydraWasDown() async throws {
        try await withEndToEnd { world in
            let networks = [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true, ipMasq: true)]
            let netnsA = try await world.makeNamespace("a")
            let netnsB = try await world.makeNamespace("b")
            let first = try await world.startSession(
                networks: networks, pods: [world.pod("a", netns: netnsA), world.pod("b", netns: netnsB)],
                steps: [["run": "a"], ["run": "b"]])
            #expect(world.reservedAddresses("n1").count == 2)
            await world.end(first)
            let addressB = try await world.addresses("b", interface: "net1")

            try await world.deleteNamespace("a")
            let netnsC = try await world.makeNamespace("c")
            let pods = [world.pod("a", netns: netnsA), world.pod("b", netns: netnsB), world.pod("c", netns: netnsC)]
            let second = try await world.startSession(networks: networks, pods: pods, synchronize: ["b", "c"], steps: [])
            let expected = ["\(world.sandboxID("b")).json", "\(world.sandboxID("c")).json"]
            // c's record appears with the intent entry, before its attach
            // completes, so wait for the completed attachment.
            _ = await eventually {
                let recordC = world.record(world.sandboxID("c"))
                return world.recordFiles() == expected && recordC?["intent"] == nil
                    && (recordC?["attachments"] as? [Any])?.count == 1
            }
            #expect(world.recordFiles() == expected)
            #expect(world.reservedAddresses("n1").count == 2, "a's address released, c's reserved")
            #expect(try await world.addresses("b", interface: "net1") == addressB)
            #expect(try await world.interfaces("c") == ["net1"])
            #expect(try await world.natRules().count == 6, "rules for b and c only")
            _ = await eventually { (try? await world.bridgePorts(1).count) == 2 }
            #expect(try await world.bridgePorts(1).count == 2)
            await world.end(second)
        }
    }
}
