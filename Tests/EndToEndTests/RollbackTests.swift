import Foundation
import Testing

@Suite("Rollback on the real kernel")
struct RollbackTests {
    /// Attaches three networks. The second has a one-address range whose
    /// address is already reserved, so the bridge backend fails in IPAM
    /// after it has created the veth. The first network must be detached again.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func secondOfThreeFailsRollsBackFirst() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            let onlyAddress = "10.\(world.subnetBase.0).\(world.subnetBase.1 + 2).10"
            let exhausted = "\(world.ipamDataDir)/second"
            try FileManager.default.createDirectory(atPath: exhausted, withIntermediateDirectories: true)
            try "other-container\r\nnet9".write(toFile: "\(exhausted)/\(onlyAddress)", atomically: true, encoding: .utf8)
            let networks = [
                world.bridgeNetwork("first", index: 1, interface: "net1", isDefault: true, ipMasq: true),
                world.bridgeNetwork("second", index: 2, interface: "net2", isDefault: true,
                                    rangeStart: onlyAddress, rangeEnd: onlyAddress),
                world.bridgeNetwork("third", index: 3, interface: "net3", isDefault: true),
            ]

            let session = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)],
                                                       steps: [["run": "a"]])
            let run = session.simulation.outcomes("run", pod: "a").first
            #expect(run?["ok"] as? Bool == false)
            let message = run?["outcome"] as? String ?? ""
            #expect(message.contains("second"), "the error names the failed network: \(message)")

            #expect(try await world.interfaces("a") == [])
            #expect(world.reservedAddresses("first") == [])
            #expect(world.reservedAddresses("second") == [onlyAddress], "only the foreign reservation is left")
            #expect(world.reservedAddresses("third") == [])
            #expect(try await world.bridgePorts(1) == [])
            #expect(try await world.bridgePorts(2) == [])
            #expect(try await world.natRules() == [])
            #expect(world.recordFiles() == [])
            await world.end(session)
        }
    }

    /// The same three networks with a plugin type that does not exist in
    /// the middle: the CNI executor fails to find the binary.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func missingPluginInMiddleRollsBack() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            var missing = world.bridgeNetwork("second", index: 2, interface: "net2", isDefault: true)
            missing["config"] = ["cniVersion": "1.0.0", "type": "hydra-e2e-no-such-plugin"]
            let networks = [
                world.bridgeNetwork("first", index: 1, interface: "net1", isDefault: true),
                missing,
                world.bridgeNetwork("third", index: 3, interface: "net3", isDefault: true),
            ]

            let session = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)],
                                                       steps: [["run": "a"]])
            let run = session.simulation.outcomes("run", pod: "a").first
            #expect(run?["ok"] as? Bool == false)
            let message = run?["outcome"] as? String ?? ""
            #expect(message.contains("hydra-e2e-no-such-plugin"), "the error names the plugin type: \(message)")

            #expect(try await world.interfaces("a") == [])
            #expect(world.reservedAddresses("first") == [])
            #expect(world.reservedAddresses("third") == [])
            #expect(try await world.bridgePorts(1) == [])
            // The failed network's attach never ran a plugin, so its DEL has
            // nothing to do even though the binary is missing, and the
            // rollback leaves no record behind.
            #expect(world.record(world.sandboxID("a")) == nil)
            await world.end(session)
        }
    }

    /// Control: the three networks attach when nothing fails, and stop plus
    /// remove take everything away again.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func threeNetworksAttachAndDetach() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            let networks = (1...3).map {
                world.bridgeNetwork("n\($0)", index: $0, interface: "net\($0)", isDefault: true, ipMasq: $0 == 1)
            }
            let session = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)],
                                                       steps: [["run": "a"]])
            #expect(session.simulation.outcomes("run", pod: "a").first?["ok"] as? Bool == true)
            #expect(try await world.interfaces("a") == ["net1", "net2", "net3"])
            for index in 1...3 {
                #expect(world.reservedAddresses("n\(index)").count == 1)
                #expect(try await world.bridgePorts(index).count == 1)
            }
            #expect(try await world.natRules().count >= 3, "ipMasq on n1 adds a chain with two rules and a jump")
            #expect(world.recordFiles() == ["\(world.sandboxID("a")).json"])
            await world.end(session)

            let stop = try await world.startSession(networks: networks, pods: [world.pod("a", netns: netns)],
                                                    synchronize: ["a"], steps: [["stop": "a"], ["remove": "a"]])
            #expect(try await world.interfaces("a") == [])
            for index in 1...3 { #expect(world.reservedAddresses("n\(index)") == []) }
            #expect(try await world.natRules() == [])
            #expect(world.recordFiles() == [])
            await world.end(stop)
        }
    }
}
