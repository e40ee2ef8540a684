import BackendHost
import Dispatch
import Foundation
import Glibc

/// `hydra backend check PATH.so [--config JSON|@FILE] [--network-config JSON|@FILE]`:
/// the backend conformance run. The logic lives in `BackendCheckCLI`.
enum BackendCheckCommand {
    /// Runs the command with the arguments after `hydra backend check` and
    /// returns the process exit status. Blocks the calling thread until done.
    static func run(arguments: [String]) -> Int32 {
        // Output piped into `head` must not kill the run before it deletes
        // its namespaces, so a closed stdout only drops lines.
        signal(SIGPIPE, SIG_IGN)
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

    private final class StatusBox: @unchecked Sendable {
        // Written once by the task before it signals, read after the wait.
        var value: Int32 = 0
    }
}
