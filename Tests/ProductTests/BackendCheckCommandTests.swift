import Foundation
import Glibc
import Testing

/// `hydra backend check` run as a program: the conformance run happens in a
/// private network namespace, so host-side devices a backend creates go away
/// with it. Each test starts the command inside a namespace of its own, so a
/// bridge that escaped would land there and not in the machine's namespace.
@Suite struct BackendCheckCommandTests {
    /// Runs `hydra backend check` with `arguments` under `ip netns exec NAME`.
    func check(in namespace: String, _ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let directory = try binaryDirectory(requiring: ["hydra", "libhydra-backend-bridge.so"])
        return try await withTemporaryDirectory { temporary in
            try await run("/usr/sbin/ip", ["netns", "exec", namespace, directory + "/hydra", "backend", "check"]
                              + arguments.map { $0.replacingOccurrences(of: "@BUILD", with: directory) },
                          in: temporary, timeout: .seconds(120))
        }
    }

    /// Creates a named namespace for one test and deletes it after `body`.
    func withNamespace<T>(_ body: (String) async throws -> T) async throws -> T {
        let name = "hycheck-\(UInt32.random(in: 0...UInt32.max))"
        let created = try await run("/usr/sbin/ip", ["netns", "add", name], in: NSTemporaryDirectory())
        try #require(created.status == 0, "ip netns add \(name): \(created.errors)")
        defer { _ = try? Process.run(URL(fileURLWithPath: "/usr/sbin/ip"), arguments: ["netns", "del", name]).waitUntilExit() }
        return try await body(name)
    }

    /// Returns the names of the links in `namespace`.
    func links(in namespace: String) async throws -> [String] {
        let result = try await run("/usr/sbin/ip", ["-n", namespace, "-o", "link", "show"], in: NSTemporaryDirectory())
        return result.output.split(separator: "\n").compactMap { line in
            line.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    /// Returns the named network namespaces whose name starts with `prefix`.
    func namespaces(startingWith prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix(prefix) }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func bridgeLeavesNoDeviceBehind() async throws {
        try await withNamespace { namespace in
            let before = Set(namespaces(startingWith: "hydra-check-"))
            let result = try await check(in: namespace, ["@BUILD/libhydra-backend-bridge.so"])

            #expect(result.status == 0, "\(result.output)\(result.errors)")
            #expect(result.output.contains("all 13 checks passed or were skipped"))
            #expect(try await links(in: namespace) == ["lo"])
            #expect(Set(namespaces(startingWith: "hydra-check-")) == before)
        }
    }

    /// Without a network configuration, macvlan's master defaults to the
    /// interface of the default route: the private namespace's eth0.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func macvlanFindsPrivateUplink() async throws {
        try await withNamespace { namespace in
            let result = try await check(in: namespace, ["@BUILD/libhydra-backend-macvlan.so"])

            #expect(result.status == 0, "\(result.output)\(result.errors)")
            #expect(result.output.contains("PASS  attach returns a valid result"))
            #expect(try await links(in: namespace) == ["lo"])
        }
    }

    @Test func helpExitsZero() async throws {
        let directory = try binaryDirectory(requiring: ["hydra"])
        let result = try await withTemporaryDirectory { temporary in
            try await run(directory + "/hydra", ["backend", "check", "--help"], in: temporary)
        }
        #expect(result.status == 0)
        #expect(result.output.contains("--host-namespace"))
    }
}
