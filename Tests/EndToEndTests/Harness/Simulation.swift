import Foundation

/// One run of `hydra-nri-sim`: it listens on its own socket, accepts Hydra,
/// synchronizes, plays the steps, then waits for `releasePath` before it
/// closes the connection, so the test can inspect the node while Hydra is
/// still connected.
final class Simulation: @unchecked Sendable {
    let process: ChildProcess
    let socketPath: String
    let releasePath: String

    init(process: ChildProcess, socketPath: String, releasePath: String) {
        self.process = process
        self.socketPath = socketPath
        self.releasePath = releasePath
    }

    /// The JSON lines printed so far, decoded.
    var events: [[String: Any]] {
        process.output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// Returns the printed outcome lines of one event kind (`run`, `stop`, `remove`) for a pod.
    func outcomes(_ event: String, pod: String) -> [[String: Any]] {
        events.filter { $0["event"] as? String == event && $0["pod"] as? String == pod }
    }

    /// Waits until every step before the release has run.
    func waitUntilStepsDone(timeout: Duration = .seconds(60)) async throws {
        let reached = await eventually(timeout: timeout) {
            events.contains { $0["event"] as? String == "waiting" } || process.poll() != nil
        }
        guard reached, process.poll() == nil else {
            throw HarnessError("hydra-nri-sim did not reach its last step: \(process.output) \(process.errors)")
        }
    }

    /// Lets the simulator close the connection and exit, and waits for it.
    func release() async {
        _ = FileManager.default.createFile(atPath: releasePath, contents: Data())
        if (try? await process.waitForExit(timeout: .seconds(15))) == nil { await process.stop() }
    }
}
