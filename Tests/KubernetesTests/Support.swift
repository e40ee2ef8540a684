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

/// A unique name for objects created by one test.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
}
