import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the end-to-end harness, with the command or path involved.
struct HarnessError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A program started with posix_spawn whose standard output and error go to
/// files. Waiting polls waitpid(WNOHANG) with `Task.sleep`, so no
/// cooperative thread blocks on the child.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let command: String
    let outputPath: String
    let errorPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`. `environment` entries are added
    /// to this process's environment.
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
        let status = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard status == 0 else {
            throw HarnessError("failed to start \(command): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// Reaps the child if it has exited (waitpid with WNOHANG) and returns
    /// its exit status, or 128 + the signal number; nil while it runs.
    func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        let exited = status & 0x7f == 0
        exitStatus = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return exitStatus
    }

    /// Waits until the child exits and returns its status; throws after `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration) async throws -> Int32 {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let status = poll() { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("\(command) did not exit within \(timeout)")
    }

    /// Sends `signal` unless the child has already been reaped.
    func send(_ signal: Int32) {
        if poll() == nil { kill(pid, signal) }
    }

    /// Sends SIGTERM, waits up to 10 s, then SIGKILL; always reaps the child.
    func stop() async {
        send(SIGTERM)
        if (try? await waitForExit(timeout: .seconds(10))) != nil { return }
        send(SIGKILL)
        _ = try? await waitForExit(timeout: .seconds(10))
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }
}

/// Runs a tool to completion and returns its standard output; throws with
/// its standard error when it exits non-zero.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], in directory: String,
             timeout: Duration = .seconds(30)) async throws -> String {
    let token = UInt32.random(in: 0...UInt32.max)
    let output = "\(directory)/tool-\(token).out"
    let errors = "\(directory)/tool-\(token).err"
    defer {
        unlink(output)
        unlink(errors)
    }
    let process = try ChildProcess(executable, arguments, outputPath: output, errorPath: errors)
    let status = try await process.waitForExit(timeout: timeout)
    guard status == 0 else {
        throw HarnessError("\(process.command) exited with \(status): \(process.errors)")
    }
    return process.output
}

/// Polls `condition` every 100 ms until it is true or `timeout` passes;
/// returns its last value.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= end { return false }
        try? await Task.sleep(for: .milliseconds(100))
    }
}
