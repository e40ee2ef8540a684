import Foundation
import Testing

/// The README's demo command, run as a new user would: in a fresh clone of
/// the repository's HEAD, `make demo`. It installs packages and builds in
/// release mode, so it takes minutes and runs only with HYDRA_TEST_DEMO=1
/// (scripts/test.sh sets it).
@Suite struct DemoTests {
    static let enabled = ProcessInfo.processInfo.environment["HYDRA_TEST_DEMO"] == "1"

    @Test(.enabled(if: enabled && getuid() == 0, "set HYDRA_TEST_DEMO=1 and run as root"), .timeLimit(.minutes(60)))
    func demoInCleanClone() async throws {
        try await withTemporaryDirectory { work in
            let clone = work + "/hydra"
            // SwiftPM keeps its lock files for the clone's build directory in
            // the temporary directory, named after the path with "/" as "_".
            defer {
                let prefix = (clone + "/").replacingOccurrences(of: "/", with: "_")
                let temporary = NSTemporaryDirectory()
                let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
                for name in names where name.hasPrefix(prefix) {
                    try? FileManager.default.removeItem(atPath: temporary + "/" + name)
                }
            }
            let cloned = try await run("git", ["clone", "--quiet", repositoryRoot, clone], in: work, timeout: .seconds(300))
            try #require(cloned.status == 0, "git clone failed: \(cloned.errors)")

            let demo = try await run("make", ["-C", clone, "demo"], in: work, timeout: .seconds(3_000))
            let output = demo.output
            #expect(demo.status == 0, "make demo exited with \(demo.status):\n\(output)\n\(demo.errors)")

            // `ip -br addr` inside demo-a: eth0 from the default CNI and the
            // Hydra interface with an address of cbr0's range.
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.hasPrefix("eth0@") && $0.contains(" UP ") && $0.contains("10.88.0.") })
            #expect(lines.contains { $0.hasPrefix("hydra@") && $0.contains(" UP ") && $0.contains("10.250.0.") },
                    "no hydra interface in the demo output:\n\(output)")

            // The network-status annotation, pretty-printed by jq.
            #expect(output.contains("\"name\": \"cbr0\""), "no network-status annotation for cbr0:\n\(output)")
            #expect(output.contains("\"interface\": \"hydra\""))
            #expect(output.contains(" 0% packet loss"), "the ping through the hydra interface failed:\n\(output)")
        }
    }
}

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
