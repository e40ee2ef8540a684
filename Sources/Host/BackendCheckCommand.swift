import BackendHost
import Dispatch
import Foundation

/// `hydra backend check PATH.so [--config JSON|@FILE] [--network-config JSON|@FILE]`:
/// the backend conformance run. The logic lives in `BackendCheckCLI`.
enum BackendCheckCommand {
    /// Runs the command with the arguments after `hydra backend check` and
    /// returns the process exit status. Blocks the calling thread until done.
    static func run(arguments: [String]) -> Int32 {
        let status = StatusBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            status.value = await BackendCheckCLI.run(arguments: arguments) { line in
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
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
