import FakeAPIServerKit
import Foundation
import HydraLog
@testable import Kubernetes

/// Starts an in-process fake API server and a client for it.
func makeServerAndClient(token: BearerToken = .value("test-token")) throws -> (FakeAPIServer, KubernetesClient) {
    let server = try FakeAPIServer()
    let url = try server.start()
    let client = KubernetesClient(configuration: try ClientConfiguration(serverURL: url, token: token),
                                  logger: testLogger())
    return (server, client)
}

/// A logger that keeps test output quiet unless debugging.
func testLogger(_ component: String = "kubernetes-test") -> Logger {
    Logger(component: component, sink: LogSink(level: .warning))
}

/// Returns a unique name for objects created by one test.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
}

/// Polls `condition` every 20 ms until it is true or `seconds` pass, and returns
/// whether it became true.
func waitUntil(seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() {
            return true
        }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Fast retries so queue tests finish quickly.
let fastBackoff = RetryBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))

/// A temporary directory removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ prefix: String) throws {
        path = NSTemporaryDirectory() + "/" + uniqueName(prefix)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
