import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure in the product tests' harness, with the command or path involved.
struct ProductTestError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A child process started with posix_spawn, its standard output and error
/// written to files. Waiting polls waitpid(WNOHANG) with `Task.sleep`, so
/// no cooperative thread blocks on the child.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let command: String
    let outputPath: String
    let errorPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
         outputPath: String, errorPath: String) throws {
        command = ([executable] + arguments).joined(separator: " ")
        self.outputPath = outputPath
        self.errorPath = errorPath

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)

        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawnp(&child, executable, &actions, nil, argv, envp)
        guard status == 0 else { throw ProductTestError("failed to start \(command): \(String(cString: strerror(status)))") }
        pid = child
    }

    /// The exit status (128 + signal for a signal) once the child exited; nil while it runs.
    func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return exitStatus
    }

    @discardableResult
    func waitForExit(timeout: Duration) async throws -> Int32 {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let status = poll() { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProductTestError("\(command) did not exit within \(timeout)")
    }

    /// SIGTERM, then SIGKILL after 10 s; always reaps the child.
    func stop() async {
        if poll() == nil { kill(pid, SIGTERM) }
        if (try? await waitForExit(timeout: .seconds(10))) != nil { return }
        if poll() == nil { kill(pid, SIGKILL) }
        _ = try? await waitForExit(timeout: .seconds(10))
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
}

/// Runs a program to completion; returns its exit status, output and error text.
func run(_ executable: String, _ arguments: [String], in directory: String,
         environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws
    -> (status: Int32, output: String, errors: String) {
    let token = UInt32.random(in: 0...UInt32.max)
    let output = "\(directory)/run-\(token).out"
    let errors = "\(directory)/run-\(token).err"
    defer {
        unlink(output)
        unlink(errors)
    }
    let child = try Child(executable, arguments, environment: environment,
                          outputPath: output, errorPath: errors)
    do {
        let status = try await child.waitForExit(timeout: timeout)
        return (status, child.output, child.errors)
    } catch {
        await child.stop()
        throw error
    }
}

/// Polls `condition` every 100 ms until it is true or `timeout` passes; returns its last value.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= end { return false }
        try? await Task.sleep(for: .milliseconds(100))
    }
}

/// A temporary directory removed at the end of `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "hydra-product-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// The built programs, found next to the test bundle: SwiftPM builds every
/// product of the package into the same directory.
func binaryDirectory(requiring names: [String]) throws -> String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<6 {
        url.deleteLastPathComponent()
        if names.allSatisfy({ FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }) {
            return url.path
        }
    }
    throw ProductTestError("\(names.joined(separator: ", ")) not found near \(CommandLine.arguments[0]); run `swift build` with the same scratch path first")
}

/// A loopback TCP port that was free a moment ago: bind to port 0, read the
/// port, close. Another process may take it before the caller binds it.
func freeLoopbackPort() throws -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw ProductTestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw ProductTestError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw ProductTestError("getsockname: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}
