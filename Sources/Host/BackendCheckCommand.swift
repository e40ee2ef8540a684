import BackendHost
import Dispatch
import Foundation
import Glibc

/// `hydra backend check PATH.so [--config JSON|@FILE] [--network-config JSON|@FILE]`:
/// the backend conformance run. The logic lives in `BackendCheckCLI`.
///
/// As root, the run moves into a private network namespace first, so that
/// what a backend creates on the host side (a bridge, iptables rules) never
/// reaches the machine's own namespace. The namespace gets an `eth0` with a
/// default route, for backends that look up the node's uplink.
enum BackendCheckCommand {
    /// The environment variable that names the private namespace inside it.
    static let namespaceVariable = "HYDRA_CHECK_NAMESPACE"

    /// The uplink inside the private namespace: an address and gateway from
    /// TEST-NET-1 (RFC 5737), which no real network routes.
    static let uplinkAddress = "192.0.2.2/24"
    static let uplinkGateway = "192.0.2.1"

    /// Runs the command with the arguments after `hydra backend check` and
    /// returns the process exit status. Blocks the calling thread until done.
    static func run(arguments: [String]) -> Int32 {
        // Output piped into `head` must not kill the run before it deletes
        // its namespaces, so a closed stdout only drops lines.
        signal(SIGPIPE, SIG_IGN)

        // Help and invalid arguments are handled here, without a namespace.
        let inPrivateNamespace = ProcessInfo.processInfo.environment[namespaceVariable] != nil
        if getuid() == 0 && !inPrivateNamespace, let options = try? BackendCheckCLI.parse(arguments), !options.hostNamespace {
            return runInPrivateNamespace(arguments: arguments)
        }

        let status = StatusBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            status.value = await BackendCheckCLI.run(arguments: arguments) { line in
                let bytes = Array((line + "\n").utf8)
                _ = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            }
            done.signal()
        }
        done.wait()
        return status.value
    }

    /// Creates `hydra-check-<random>` with an uplink, runs this command again
    /// inside it with `ip netns exec`, deletes it, and returns the inner
    /// run's exit status.
    private static func runInPrivateNamespace(arguments: [String]) -> Int32 {
        let name = "hydra-check-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let setup = [
            ["netns", "add", name],
            ["-n", name, "link", "set", "lo", "up"],
            ["-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"],
            ["-n", name, "addr", "add", uplinkAddress, "dev", "eth0"],
            ["-n", name, "link", "set", "eth0", "up"],
            ["-n", name, "link", "set", "eth0-peer", "up"],
            ["-n", name, "route", "add", "default", "via", uplinkGateway, "dev", "eth0"],
        ]
        defer { _ = runIP(["netns", "del", name]) }
        for step in setup {
            if let failure = runIP(step) {
                printError("hydra backend check: failed to set up the private namespace \(name): \(failure)")
                return 1
            }
        }

        // Ctrl-C reaches the inner run through the terminal, and this process
        // must live on to delete the namespace after it.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var environment = ProcessInfo.processInfo.environment
        environment[namespaceVariable] = name
        let arguments = ["netns", "exec", name, executablePath(), "backend", "check"] + arguments
        switch spawnAndWait("/usr/sbin/ip", arguments, environment: environment) {
        case .success(let status):
            return status
        case .failure(let error):
            printError("hydra backend check: failed to run inside namespace \(name): \(error)")
            return 1
        }
    }

    /// Runs `ip` with `arguments`, its output going to this process's own;
    /// returns nil on success, else what failed.
    private static func runIP(_ arguments: [String]) -> String? {
        switch spawnAndWait("/usr/sbin/ip", arguments, environment: ProcessInfo.processInfo.environment) {
        case .success(0): return nil
        case .success(let status): return "ip \(arguments.joined(separator: " ")) exited with status \(status)"
        case .failure(let error): return "ip \(arguments.joined(separator: " ")): \(error)"
        }
    }

    /// Starts `path` with posix_spawn, sharing this process's standard
    /// streams, and waits for it (waitpid). Returns its exit status, or 128
    /// plus the signal number when a signal ended it.
    ///
    /// Foundation's `Process` is not used here: in a namespace whose loopback
    /// was down, it logged that CFSocket could not create its wakeup socket
    /// pair, and its wait never ended.
    private static func spawnAndWait(_ path: String, _ arguments: [String],
                                     environment: [String: String]) -> Result<Int32, SpawnError> {
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }

        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, nil, nil, argv, envp)
        guard spawned == 0 else { return .failure(SpawnError(path: path, code: spawned)) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return .failure(SpawnError(path: path, code: errno)) }
        }
        let signalNumber = status & 0x7f
        return .success(signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber)
    }

    /// posix_spawn or waitpid failed for `path` with errno `code`.
    struct SpawnError: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "failed to run \(path): \(String(cString: strerror(code)))" }
    }

    /// Returns the resolved path of this executable (/proc/self/exe), so that
    /// the inner run starts the same binary whatever the working directory and PATH.
    private static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return count > 0 ? String(cString: Array(buffer[0..<count]) + [0]) : CommandLine.arguments[0]
    }

    private final class StatusBox: @unchecked Sendable {
        // Written once by the task before it signals, read after the wait.
        var value: Int32 = 0
    }
}
