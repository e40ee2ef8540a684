import Foundation
import Testing

@Suite("Detach on the real kernel")
struct DetachTests {
    static func networks(_ world: EndToEnd) -> [[String: Any]] {
        [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true, ipMasq: true),
         world.bridgeNetwork("n2", index: 2, interface: "net2", isDefault: true)]
    }

    /// CRI-O removes the namespace before StopPodSandbox: detach works
    /// from the record and still releases addresses and rules.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func namespaceGoneBeforeStop() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            let run = try await world.startSession(networks: Self.networks(world), pods: [world.pod("a", netns: netns)],
                                                   steps: [["run": "a"]])
            #expect(run.simulation.outcomes("run", pod: "a").first?["ok"] as? Bool == true)
            #expect(world.reservedAddresses("n1").count == 1)
            await world.end(run)

            try await world.deleteNamespace("a")
            let stop = try await world.startSession(networks: Self.networks(world), pods: [world.pod("a", netns: netns)],
                                                    synchronize: ["a"], steps: [["stop": "a"], ["remove": "a"]])
            #expect(stop.simulation.outcomes("stop", pod: "a").first?["ok"] as? Bool == true)
            #expect(stop.simulation.outcomes("remove", pod: "a").first?["ok"] as? Bool == true)
            #expect(world.recordFiles() == [])
            #expect(world.reservedAddresses("n1") == [])
            #expect(world.reservedAddresses("n2") == [])
            #expect(try await world.natRules() == [])
            // The kernel removes the host end of a veth asynchronously after the namespace goes.
            _ = await eventually { (try? await world.bridgePorts(1).isEmpty) == true }
            #expect(try await world.bridgePorts(1) == [])
            #expect(try await world.bridgePorts(2) == [])
            await world.end(stop)
        }
    }

    /// Stop and remove of another sandbox of the same pod (the kubelet
    /// retried with a new sandbox id) leave the attached sandbox alone.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func otherSandboxOfSamePodLeavesRecordAlone() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            let attached = world.pod("a", netns: netns)
            var retry = world.pod("a", netns: netns, sandbox: world.sandboxID("retry"))
            retry["name"] = "a-retry"
            let session = try await world.startSession(
                networks: Self.networks(world), pods: [attached, retry],
                steps: [["run": "a"], ["stop": "a-retry"], ["remove": "a-retry"]])
            #expect(session.simulation.outcomes("remove", pod: "a-retry").first?["ok"] as? Bool == true)
            #expect(world.recordFiles() == ["\(world.sandboxID("a")).json"])
            #expect(try await world.interfaces("a") == ["net1", "net2"])
            #expect(world.reservedAddresses("n1").count == 1)
            #expect(world.reservedAddresses("n2").count == 1)
            await world.end(session)
        }
    }

    /// A record file named for sandbox B but holding sandbox A's record is
    /// moved aside at B's removal; A's networks stay attached until A goes.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func recordOfDifferentSandboxIsNotDetached() async throws {
        try await withEndToEnd { world in
            let netns = try await world.makeNamespace("a")
            let pods = [world.pod("a", netns: netns), world.pod("b", netns: nil)]
            let run = try await world.startSession(networks: Self.networks(world), pods: pods, steps: [["run": "a"]])
            await world.end(run)
            let sandboxes = "\(world.stateDir)/sandboxes"
            try FileManager.default.copyItem(atPath: "\(sandboxes)/\(world.sandboxID("a")).json",
                                             toPath: "\(sandboxes)/\(world.sandboxID("b")).json")

            let removeB = try await world.startSession(networks: Self.networks(world), pods: pods, synchronize: ["a"],
                                                       steps: [["stop": "b"], ["remove": "b"]])
            #expect(removeB.simulation.outcomes("remove", pod: "b").first?["ok"] as? Bool == true)
            #expect(world.recordFiles() == ["\(world.sandboxID("a")).json"])
            let movedAside = (try? FileManager.default.contentsOfDirectory(atPath: "\(world.stateDir)/unreadable")) ?? []
            #expect(movedAside.count == 1)
            #expect(movedAside.first?.hasPrefix(world.sandboxID("b")) == true)
            #expect(try await world.interfaces("a") == ["net1", "net2"])
            #expect(world.reservedAddresses("n1").count == 1)
            #expect(try await world.natRules().count == 3)
            await world.end(removeB)

            let removeA = try await world.startSession(networks: Self.networks(world), pods: pods, synchronize: ["a"],
                                                       steps: [["stop": "a"], ["remove": "a"]])
            #expect(world.recordFiles() == [])
            #expect(try await world.interfaces("a") == [])
            #expect(world.reservedAddresses("n1") == [])
            #expect(try await world.natRules() == [])
            await world.end(removeA)
        }
    }
}
