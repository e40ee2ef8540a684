import CNI
import Foundation
import HydraLog
import Testing
@testable import BackendHost

/// Runs the checker on `path` and returns the results by check name.
func runChecker(_ path: String, configuration: JSONValue = .object([:]),
                networkConfiguration: JSONValue? = nil) async -> [String: BackendCheckResult] {
    var network = networkConfiguration ?? .object([:])
    network["kind"] = .string(testLinkKind)
    let options = BackendCheckOptions(libraryPath: path, backendConfiguration: configuration,
                                      networkConfiguration: network, callTimeoutSeconds: 10)
    let checker = BackendChecker(options: options,
                                 logger: Logger(component: "test", sink: LogSink(level: .error, write: { _ in })))
    let results = await checker.run()
    return Dictionary(results.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}

let expectedChecks = [
    "load library", "identify", "init", "attach returns a valid result", "interface exists after attach",
    "check passes", "detach removes the interface", "second detach succeeds", "detach after namespace deletion",
    "malformed requests are rejected", "parallel attaches succeed", "gc removes unlisted attachments", "shutdown",
]

@Suite(.serialized) struct CheckerTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func dummyCBackendPassesEveryCheck() async throws {
        let directory = try TemporaryDirectory()
        let path = try compileDummyBackend(in: directory)
        let results = await runChecker(path, networkConfiguration: [
            "cniVersion": "1.0.0", "name": "dummy-check", "type": "dummy", "address": "10.99.0.5/24",
        ])
        for name in expectedChecks {
            #expect(results[name]?.status == .pass, "\(name): \(results[name]?.line ?? "not run")")
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func swiftBackendPassesEveryCheck() async throws {
        let results = await runChecker(try swiftTestBackendPath(), networkConfiguration: [
            "cniVersion": "1.0.0", "name": "swift-check", "type": "swifttest", "address": "10.98.0.5/24",
        ])
        for name in expectedChecks {
            #expect(results[name]?.status == .pass, "\(name): \(results[name]?.line ?? "not run")")
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func failingSecondDetachIsCaught() async throws {
        let results = await runChecker(try swiftTestBackendPath(), configuration: ["failSecondDetach": true])
        #expect(results["second detach succeeds"]?.status == .fail)
        #expect(results["second detach succeeds"]?.detail.contains("idempotent") == true)
        #expect(results["detach removes the interface"]?.status == .pass)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func attachWithoutInterfaceIsCaught() async throws {
        let results = await runChecker(try swiftTestBackendPath(), configuration: ["skipInterface": true])
        #expect(results["attach returns a valid result"]?.status == .pass)
        #expect(results["interface exists after attach"]?.status == .fail)
        #expect(results["check passes"]?.status == .fail)
        #expect(results["parallel attaches succeed"]?.status == .fail)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func ignoredGCIsCaught() async throws {
        let results = await runChecker(try swiftTestBackendPath(), configuration: ["ignoreGC": true])
        #expect(results["gc removes unlisted attachments"]?.status == .fail)
        #expect(results["gc removes unlisted attachments"]?.detail.contains("still in") == true)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func initFailureStopsRun() async throws {
        let results = await runChecker(try swiftTestBackendPath(), configuration: ["initError": "no etcd endpoints"])
        #expect(results["load library"]?.status == .pass)
        #expect(results["init"]?.status == .fail)
        #expect(results["init"]?.detail.contains("no etcd endpoints") == true)
        #expect(results["attach returns a valid result"] == nil)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func commandExitStatusReflectsFailures() async throws {
        let path = try swiftTestBackendPath()
        let lines = LineCollector()
        let network = #"{"kind":"\#(testLinkKind)"}"#
        let passing = await BackendCheckCLI.run(arguments: [path, "--network-config", network],
                                                output: { lines.append($0) })
        #expect(passing == 0, "\(lines.all)")
        #expect(lines.all.contains { $0.hasPrefix("PASS  gc removes unlisted attachments") })

        let failing = await BackendCheckCLI.run(arguments: ["backend", "check", path, "--config", #"{"failSecondDetach":true}"#,
                                                            "--network-config", network],
                                                output: { lines.append($0) })
        #expect(failing == 1)
        #expect(lines.all.contains { $0.hasPrefix("FAIL  second detach succeeds") })
    }

    @Test func notSharedObjectFailsLoadCheck() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/libhydra-backend-text.so"
        try "text".write(toFile: path, atomically: true, encoding: .utf8)
        let results = await runChecker(path)
        if getuid() == 0 {
            #expect(results["load library"]?.status == .fail)
            #expect(results["load library"]?.detail.contains("not a shared object") == true)
            #expect(results.count == 1)
        } else {
            #expect(results["run as root"]?.status == .fail)
        }
    }
}

@Suite struct CheckArgumentTests {
    @Test func parsesOptionsAndFiles() throws {
        let directory = try TemporaryDirectory()
        try #"{"type":"dummy","address":"10.0.0.1/24"}"#.write(toFile: directory.path + "/net.json", atomically: true, encoding: .utf8)
        let options = try BackendCheckCLI.parse(["lib.so", "--config", #"{"a":1}"#,
                                                 "--network-config", "@\(directory.path)/net.json", "--timeout", "3",
                                                 "--cni-bin-dir", "/usr/lib/cni:/opt/cni/bin"])
        #expect(options.libraryPath == "lib.so")
        #expect(options.backendConfiguration == ["a": 1])
        #expect(options.networkConfiguration?["address"] == "10.0.0.1/24")
        #expect(options.callTimeoutSeconds == 3)
        #expect(options.cniPluginDirectories == ["/usr/lib/cni", "/opt/cni/bin"])
    }

    @Test(arguments: [
        ([] as [String], "missing the backend library path"),
        (["a.so", "--config"], "missing value after --config"),
        (["a.so", "--config", "[1]"], "--config: expected a JSON object, got [1]"),
        (["a.so", "--network-config", "@/nonexistent/file.json"], "--network-config: failed to read file /nonexistent/file.json"),
        (["a.so", "b.so"], "unexpected argument b.so: give one library path"),
        (["a.so", "--timeout", "-1"], "invalid --timeout \"-1\": expected a positive number of seconds"),
        (["a.so", "--verbose"], "unknown option --verbose"),
    ])
    func rejectsInvalidArguments(arguments: [String], message: String) {
        #expect(throws: BackendCheckCLI.UsageError.self) { try BackendCheckCLI.parse(arguments) }
        do {
            _ = try BackendCheckCLI.parse(arguments)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func usageErrorExitsWithTwo() async {
        let lines = LineCollector()
        let status = await BackendCheckCLI.run(arguments: ["--bogus"], output: { lines.append($0) })
        #expect(status == 2)
        #expect(lines.all.first == "hydra backend check: unknown option --bogus")
    }
}

final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
