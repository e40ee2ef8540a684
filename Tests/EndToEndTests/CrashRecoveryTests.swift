import Foundation
import Testing

/// The attach steps at which `HYDRA_TEST_CRASH_AT` makes hydra raise SIGKILL.
let crashPoints = ["after-intent", "after-backend-attach", "after-record", "before-answer"]

@Suite("Crash recovery on the real kernel")
struct CrashRecoveryTests {
    /// Two networks, the first with masquerade rules, so a leak of an
    /// interface, an address or an iptables rule shows.
    static func networks(_ world: EndToEnd) -> [[String: Any]] {
        [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true, ipMasq: true),
         world.bridgeNetwork("n2", index: 2, interface: "net2", isDefault: true)]
    }

    /// Runs pod `a` with hydra set to crash at `point`, and checks that
    /// hydra died from SIGKILL and the runtime got no success.
    static func crash(at point: String, _ world: EndToEnd) async throws -> String {
        let netns = try await world.makeNamespace("a")
        let session = try await world.startSession(networks: networks(world), pods: [world.pod("a", netns: netns)],
                                                   steps: [["run": "a"]], crashAt: point)
        let status = try await session.hydra.waitForExit(timeout: .seconds(10))
        #expect(status == 128 + SIGKILL, "hydra exits by SIGKILL at \(point); log: \(session.hydra.errors)")
        #expect(session.simulation.outcomes("run", pod: "a").first?["ok"] as? Bool == false)
        await world.end(session)
        return netns
    }

    /// After the crash the runtime gives up on the sandbox: the restarted
    /// hydra gets an empty pod list and must leave nothing behind.
    @Test(.enabled(if: getuid() == 0, "needs root"), arguments: crashPoints)
    func crashThenSandboxGone(point: String) async throws {
        try await withEndToEnd { world in
            let netns = try await Self.crash(at: point, world)
            #expect(!world.recordFiles().isEmpty, "the crash left a record to reconcile")

            let restart = try await world.startSession(networks: Self.networks(world),
                                                       pods: [world.pod("a", netns: netns)], steps: [])
            _ = await eventually { world.recordFiles().isEmpty }
            #expect(world.recordFiles() == [])
            #expect(try await world.interfaces("a") == [])
            #expect(world.reservedAddresses("n1") == [])
            #expect(world.reservedAddresses("n2") == [])
            #expect(try await world.bridgePorts(1) == [])
            #expect(try await world.bridgePorts(2) == [])
            #expect(try await world.natRules() == [])
            await world.end(restart)
        }
    }

    /// After the crash the pod keeps running (the runtime dropped the
    /// plugin and started the pod without it): the restarted hydra must
    /// end with each network attached exactly once and a clean record.
    @Test(.enabled(if: getuid() == 0, "needs root"), arguments: crashPoints)
    func crashThenSandboxRunning(point: String) async throws {
        try await withEndToEnd { world in
            let netns = try await Self.crash(at: point, world)

            let restart = try await world.startSession(networks: Self.networks(world),
                                                       pods: [world.pod("a", netns: netns)], synchronize: ["a"], steps: [])
            let sandbox = world.sandboxID("a")
            _ = await eventually {
                let record = world.record(sandbox)
                return record?["intent"] == nil && (record?["attachments"] as? [Any])?.count == 2
            }
            let record = world.record(sandbox)
            #expect(record?["intent"] == nil, "the interrupted attach is cleared")
            #expect((record?["attachments"] as? [Any])?.count == 2)
            #expect(try await world.interfaces("a") == ["net1", "net2"])
            #expect(world.reservedAddresses("n1").count == 1)
            #expect(world.reservedAddresses("n2").count == 1)
            #expect(try await world.bridgePorts(1).count == 1)
            #expect(try await world.bridgePorts(2).count == 1)
            #expect(try await world.natRules().count == 3, "one chain jump and two rules for the one n1 address")
            await world.end(restart)

            let stop = try await world.startSession(networks: Self.networks(world), pods: [world.pod("a", netns: netns)],
                                                    synchronize: ["a"], steps: [["stop": "a"], ["remove": "a"]])
            #expect(world.recordFiles() == [])
            #expect(world.reservedAddresses("n1") == [])
            #expect(world.reservedAddresses("n2") == [])
            #expect(try await world.natRules() == [])
            await world.end(stop)
        }
    }
}
