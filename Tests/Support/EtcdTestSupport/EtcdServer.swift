import Foundation
import Glibc

/// Runs a blocking body on a dedicated thread, so tests never block the
/// two-thread cooperative pool while waiting on etcd or the kernel.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// Returns a free TCP port on 127.0.0.1, picked by the kernel (bind to port 0).
public func freeLoopbackPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// Files of a test CA, an etcd server certificate for 127.0.0.1 and a client certificate, made with openssl.
public struct TestCertificates: Sendable {
    public let directory: String
    public var caFile: String { directory + "/ca.pem" }
    public var serverCert: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server-key.pem" }
    public var clientCert: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client-key.pem" }

    /// Creates the CA and both certificates in a new temporary directory.
    public static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "hydra-etcd-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let openssl = "/usr/bin/openssl"
        try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hydra-test-ca",
                          "-keyout", directory + "/ca-key.pem", "-out", certificates.caFile])
        for (name, extensions) in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"),
                                   ("client", "extendedKeyUsage=clientAuth\n")] {
            try extensions.write(toFile: directory + "/\(name).ext", atomically: true, encoding: .utf8)
            try run(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=hydra-test-\(name)",
                              "-keyout", directory + "/\(name)-key.pem", "-out", directory + "/\(name).csr"])
            try run(openssl, ["x509", "-req", "-in", directory + "/\(name).csr", "-CA", certificates.caFile,
                              "-CAkey", directory + "/ca-key.pem", "-CAcreateserial", "-days", "1",
                              "-extfile", directory + "/\(name).ext", "-out", directory + "/\(name).pem"])
        }
        return certificates
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var description: String { "\(command) exited with status \(status)" }

    public init(command: String, status: Int32) {
        self.command = command
        self.status = status
    }
}

/// Runs a program to completion with its output discarded; throws on a non-zero exit.
public func run(_ path: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(command: ([path] + arguments).joined(separator: " "), status: process.terminationStatus)
    }
}

/// A private etcd (/usr/bin/etcd) on kernel-picked loopback ports with a
/// temporary data directory, stopped and deleted on `stop()`.
public final class EtcdServer: @unchecked Sendable {
    public let dataDirectory: String
    public let clientPort: UInt16
    public let peerPort: UInt16
    public let tls: TestCertificates?
    private var process: Process?

    public var endpoint: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(clientPort)" }

    /// Starts etcd and waits up to 20 s until it serves requests.
    public init(tls: TestCertificates? = nil) throws {
        dataDirectory = NSTemporaryDirectory() + "hydra-etcd-\(UUID().uuidString.prefix(8))"
        clientPort = freeLoopbackPort()
        peerPort = freeLoopbackPort()
        self.tls = tls
        try start()
    }

    /// Starts (or restarts) the etcd process on the same ports and data directory.
    public func start() throws {
        let name = "hydra-test"
        let peer = "http://127.0.0.1:\(peerPort)"
        var arguments = ["--name", name, "--data-dir", dataDirectory,
                         "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
                         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                         "--initial-cluster", "\(name)=\(peer)", "--log-level", "error"]
        if let tls {
            arguments += ["--cert-file", tls.serverCert, "--key-file", tls.serverKey,
                          "--trusted-ca-file", tls.caFile, "--client-cert-auth"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try waitUntilReady()
    }

    /// Polls the client port until etcd accepts TCP connections and serves `/health`.
    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if isHealthy() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw CommandFailed(command: "etcd on \(endpoint) did not become ready", status: -1)
    }

    private func isHealthy() -> Bool {
        var arguments = ["-sf", "--max-time", "1", "--noproxy", "*", endpoint + "/health"]
        if let tls { arguments += ["--cacert", tls.caFile, "--cert", tls.clientCert, "--key", tls.clientKey] }
        return (try? run("/usr/bin/curl", arguments)) != nil
    }

    /// Stops the process (SIGTERM) and waits for it to exit; the data directory stays.
    public func kill() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    /// Stops etcd and deletes its data directory.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}
