import Foundation
import Testing
import HydraLog
import NRIPlugin
import NRIWire

/// The `hydra-nri-sim` executable against Hydra's plugin host: the same
/// path the demo takes.
@Suite(.serialized) struct SimulatorProcessTests {
    /// The simulator built next to the test bundle.
    static var simulatorPath: String? {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("hydra-nri-sim").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs the simulator to completion on a dedicated thread and returns
    /// its exit status and standard output (written to a file, not a pipe).
    static func runSimulator(_ arguments: [String], directory: URL) async throws -> (Int32, String) {
        let path = try #require(simulatorPath, "hydra-nri-sim not built next to the test bundle")
        let output = directory.appendingPathComponent("sim.out")
        #expect(FileManager.default.createFile(atPath: output.path, contents: nil))
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: path)
                    process.arguments = arguments
                    process.standardOutput = try FileHandle(forWritingTo: output)
                    try process.run()
                    process.waitUntilExit()
                    continuation.resume(returning: process.terminationStatus)
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    static func lines(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test(arguments: ["stateChange", "dedicated", "automatic"])
    func scenarioThroughSimulator(style: String) async throws {
        let socket = temporarySocketPath()
        let directory = URL(fileURLWithPath: socket).deletingLastPathComponent()
        let scenario = directory.appendingPathComponent("scenario.json")
        try Data("""
        {"pods": [{"name": "old", "netns": "/var/run/netns/old"},
                  {"name": "a", "netns": "/var/run/netns/a", "ips": ["10.88.0.5"]},
                  {"name": "b", "netns": "/var/run/netns/b"}],
         "synchronize": ["old", "b"],
         "steps": [{"run": "a"}, {"stop": "a"}, {"remove": "a"}]}
        """.utf8).write(to: scenario)

        let handler = RecordingHandler()
        let (host, task) = startPlugin(socketPath: socket, handler: handler)
        defer { host.stop() }

        let (status, output) = try await Self.runSimulator(
            ["--socket", socket, "--scenario", scenario.path, "--style", style, "--sync-part-size", "1",
             "--accept-timeout", "10000"],
            directory: directory)
        #expect(status == 0, "simulator output: \(output)")
        let events = Self.lines(output)
        let registered = events.first { $0["event"] as? String == "registered" }
        #expect(registered?["plugin"] as? String == "hydra")
        #expect(registered?["events"] as? Int == 7)
        for action in ["run", "stop", "remove"] {
            let line = events.first { $0["event"] as? String == action }
            #expect(line?["ok"] as? Bool == true, "\(action): \(output)")
        }
        #expect(events.last?["event"] as? String == "done")

        let seen = await handler.waitFor { $0.contains(.remove("sandbox-a")) }
        #expect(seen)
        #expect(handler.calls.contains(.synchronize(["sandbox-old", "sandbox-b"])))
        host.stop()
        _ = await task.value
    }

    @Test func simulatorRejectsBadScenario() async throws {
        let socket = temporarySocketPath()
        let directory = URL(fileURLWithPath: socket).deletingLastPathComponent()
        let scenario = directory.appendingPathComponent("scenario.json")
        try Data(#"{"pods": [], "steps": [{"run": "missing"}]}"#.utf8).write(to: scenario)
        let (status, _) = try await Self.runSimulator(
            ["--socket", socket, "--scenario", scenario.path, "--style", "sideways"], directory: directory)
        #expect(status == 2)
    }
}
