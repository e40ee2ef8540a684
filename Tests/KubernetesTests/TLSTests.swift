import Foundation
import Glibc
import Testing
@testable import Kubernetes

/// A test CA, a server certificate for 127.0.0.1 signed by it, a second
/// unrelated CA, and `openssl s_server -WWW` serving files over TLS. The
/// fake API server speaks plain HTTP only, so the client's TLS checks run
/// against openssl (Debian package `openssl`).
final class TLSFixture {
    let directory: TemporaryDirectory
    let process = Process()
    private(set) var port = 0

    var caFile: String { directory.path + "/ca.crt" }
    var otherCAFile: String { directory.path + "/other-ca.crt" }

    init() throws {
        directory = try TemporaryDirectory("kube-tls")
        let path = directory.path
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hydra-test-ca",
                          "-keyout", path + "/ca.key", "-out", path + "/ca.crt"])
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other-ca",
                          "-keyout", path + "/other-ca.key", "-out", path + "/other-ca.crt"])
        try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                          "-keyout", path + "/server.key", "-out", path + "/server.csr"])
        try Data("subjectAltName=IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: path + "/san.cnf"))
        try Self.openssl(["x509", "-req", "-in", path + "/server.csr", "-CA", path + "/ca.crt",
                          "-CAkey", path + "/ca.key", "-CAcreateserial", "-days", "1",
                          "-extfile", path + "/san.cnf", "-out", path + "/server.crt"])

        // s_server -WWW maps the request path to a file under its working directory.
        let podDirectory = path + "/www/api/v1/namespaces/tls/pods"
        try FileManager.default.createDirectory(atPath: podDirectory, withIntermediateDirectories: true)
        try Data(#"{"metadata":{"name":"secure","namespace":"tls","uid":"uid-tls"}}"#.utf8)
            .write(to: URL(fileURLWithPath: podDirectory + "/secure"))
    }

    /// Starts s_server on a free loopback port and waits until it accepts
    /// connections. The port is picked here because s_server's
    /// `ACCEPT host:port` line stays in its stdout buffer when stdout is a pipe.
    func start() throws {
        port = try Self.freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", directory.path + "/server.crt",
                             "-key", directory.path + "/server.key", "-WWW", "-quiet"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path + "/www")
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()

        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.canConnect(port: port) {
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw KubernetesError.invalidConfiguration("openssl s_server did not listen on 127.0.0.1:\(port)")
    }

    /// Binds port 0 on 127.0.0.1 and returns the port the kernel chose.
    private static func freeLoopbackPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socket, generic, length) == 0 ? getsockname(socket, generic, &length) : -1
            }
        }
        guard result == 0 else {
            throw KubernetesError.invalidConfiguration("failed to pick a free loopback port")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func canConnect(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    func stop() {
        if process.isRunning {
            // SIGKILL because children of Foundation's Process inherit a mask blocking SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        directory.remove()
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw KubernetesError.invalidConfiguration("openssl \(arguments.joined(separator: " ")) failed")
        }
    }
}

@Suite("KubernetesClient TLS", .serialized)
struct TLSTests {
    @Test("TLS with the right CA succeeds")
    func trustedCA() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        try fixture.start()
        let client = KubernetesClient(
            configuration: try ClientConfiguration(serverURL: "https://127.0.0.1:\(fixture.port)",
                                                   token: .value("t"), caFile: fixture.caFile),
            logger: testLogger())

        let pod = try await client.getPod(namespace: "tls", name: "secure")

        #expect(pod.metadata.uid == "uid-tls")
    }

    @Test("TLS with an unknown CA is rejected")
    func unknownCA() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        try fixture.start()
        let client = KubernetesClient(
            configuration: try ClientConfiguration(serverURL: "https://127.0.0.1:\(fixture.port)",
                                                   token: .value("t"), caFile: fixture.otherCAFile),
            logger: testLogger())

        do {
            _ = try await client.getPod(namespace: "tls", name: "secure")
            Issue.record("a server certificate from an unknown CA must be rejected")
        } catch let error as KubernetesError {
            guard case .transport(_, let code, let message) = error else {
                Issue.record("expected a transport error, got \(error)")
                return
            }
            #expect(code == 60, "CURLE_PEER_FAILED_VERIFICATION: \(message)")
        }
    }

    @Test("TLS with a host name not in the certificate is rejected")
    func wrongHost() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        try fixture.start()
        // "localhost" resolves to loopback but is not in the certificate's SAN list.
        let client = KubernetesClient(
            configuration: try ClientConfiguration(serverURL: "https://localhost:\(fixture.port)",
                                                   token: .value("t"), caFile: fixture.caFile),
            logger: testLogger())

        do {
            _ = try await client.getPod(namespace: "tls", name: "secure")
            Issue.record("a certificate for another host must be rejected")
        } catch let error as KubernetesError {
            guard case .transport(_, let code, _) = error else {
                Issue.record("expected a transport error, got \(error)")
                return
            }
            // 60 on a name mismatch; 7 if localhost resolved to ::1, where s_server does not listen.
            #expect(code == 60 || code == 7)
        }
    }
}
