import Foundation
import Testing

/// Outage length for `apiServerDownWhilePodsStart`, 60 s by default.
/// `HYDRA_E2E_OUTAGE_SECONDS` shortens it for quick runs.
let apiServerOutageSeconds = Int(ProcessInfo.processInfo.environment["HYDRA_E2E_OUTAGE_SECONDS"] ?? "") ?? 60

@Suite("Network-status annotation on the real kernel")
struct KubernetesStatusTests {
    /// The API server refuses connections while two pods start. Both
    /// RunPodSandbox calls succeed inside the runtime's 2 s timeout, and the
    /// network-status annotations arrive once the server is back.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func apiServerDownWhilePodsStart() async throws {
        try await withEndToEnd { world in
            let api = try await world.startFakeAPIServer(pods: ["a", "b"])
            let networks = [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true)]
            let netnsA = try await world.makeNamespace("a")
            let netnsB = try await world.makeNamespace("b")
            let pods = [world.pod("a", netns: netnsA, ips: ["192.0.2.10"]), world.pod("b", netns: netnsB, ips: ["192.0.2.11"])]

            try await world.takeDown(apiServer: api, seconds: apiServerOutageSeconds)
            let downSince = ContinuousClock.now
            let session = try await world.startSession(
                networks: networks, pods: pods, steps: [["run": "a"], ["sleep": 1000], ["run": "b"]],
                kubernetes: ["enabled": true, "server": api])
            #expect(ContinuousClock.now - downSince < .seconds(apiServerOutageSeconds),
                    "the pods started while the API server was down")
            for pod in ["a", "b"] {
                let run = session.simulation.outcomes("run", pod: pod).first
                #expect(run?["ok"] as? Bool == true)
                #expect((run?["ms"] as? Double ?? .infinity) < 2000, "RunPodSandbox does not wait for the API server")
            }

            // The patch queue retries with backoff capped at 30 s, so the
            // annotation lands at most about 30 s after the outage ends.
            let patched = await eventually(timeout: .seconds(apiServerOutageSeconds + 60)) {
                let statusA = await world.networkStatus(apiServer: api, pod: "a")
                let statusB = await world.networkStatus(apiServer: api, pod: "b")
                return statusA != nil && statusB != nil
            }
            #expect(patched, "network-status arrived after the outage; hydra log: \(session.hydra.errors.suffix(2000))")
            for (pod, podIP) in [("a", "192.0.2.10"), ("b", "192.0.2.11")] {
                let status = await world.networkStatus(apiServer: api, pod: pod) ?? []
                let attached = try await world.addresses(pod, interface: "net1").map { String($0.split(separator: "/")[0]) }
                let entry = status.first { $0["interface"] as? String == "net1" }
                #expect(entry?["name"] as? String == "n1")
                #expect(entry?["ips"] as? [String] == attached)
                #expect(entry?["default"] as? Bool == false)
                let defaultEntry = status.first { $0["default"] as? Bool == true }
                #expect(defaultEntry?["ips"] as? [String] == [podIP])
            }
            await world.end(session)
        }
    }

    /// An NRI v0.6-style runtime announces no timeouts and sends no pod IPs:
    /// the default network's entry comes from eth0 inside the namespace.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func defaultEntryFromInspectorWithoutPodIPs() async throws {
        try await withEndToEnd { world in
            let api = try await world.startFakeAPIServer(pods: ["a"])
            let networks = [world.bridgeNetwork("n1", index: 1, interface: "net1", isDefault: true)]
            let netns = try await world.makeNamespace("a")
            let eth0Address = "10.\(world.subnetBase.0).\(world.subnetBase.1 + 5).7"
            let eth0MAC = try await world.addDefaultInterface("a", address: "\(eth0Address)/24")

            let session = try await world.startSession(
                networks: networks, pods: [world.pod("a", netns: netns)], steps: [["run": "a"]],
                kubernetes: ["enabled": true, "server": api], simulatorArguments: ["--no-timeouts"])
            #expect(session.simulation.outcomes("run", pod: "a").first?["ok"] as? Bool == true)

            _ = await eventually { await world.networkStatus(apiServer: api, pod: "a") != nil }
            let status = await world.networkStatus(apiServer: api, pod: "a") ?? []
            let defaultEntry = status.first { $0["default"] as? Bool == true }
            #expect(defaultEntry?["interface"] as? String == "eth0")
            #expect(defaultEntry?["ips"] as? [String] == [eth0Address])
            #expect(defaultEntry?["mac"] as? String == eth0MAC)
            #expect(status.contains { $0["interface"] as? String == "net1" })
            await world.end(session)
        }
    }
}
