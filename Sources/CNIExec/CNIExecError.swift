import CNI
import Glibc

/// The reason a CNI plugin run failed.
public enum CNIExecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No executable named `type` in any of `directories`.
    case pluginNotFound(type: String, directories: [String])
    /// The plugin type is not a plain file name (it contains "/" or is empty).
    case invalidPluginType(String)
    /// posix_spawn or a pipe call failed with `errno`.
    case spawnFailed(path: String, errno: Int32)
    /// The plugin printed a CNI error object and exited non-zero.
    case plugin(path: String, error: CNIError)
    /// The plugin exited non-zero (or was killed by `signal`) without a CNI
    /// error object on stdout. `stderr` and `stdout` contain what it printed.
    case pluginFailed(path: String, command: String, exitStatus: Int32?, signal: Int32?, stderr: String, stdout: String)
    /// The deadline passed and the plugin's process group was killed, or,
    /// with `afterMilliseconds` 0, the deadline had passed before the start.
    case timedOut(path: String, command: String, afterMilliseconds: Int64)
    /// The plugin succeeded but its stdout is not what the command returns.
    case invalidOutput(path: String, command: String, reason: String)

    /// The error as a CNI error: a plugin's own error unchanged, executor
    /// failures with the closest reserved code (11 "try again later" for a
    /// timeout, 999 otherwise) and the executor's message.
    public var cniError: CNIError {
        switch self {
        case .plugin(_, let error):
            return error
        case .timedOut:
            return CNIError(code: CNIError.tryAgainLater, msg: description)
        case .invalidOutput:
            return CNIError(code: CNIError.decodingFailure, msg: description)
        default:
            return CNIError(code: CNIError.internalError, msg: description)
        }
    }

    public var description: String {
        switch self {
        case .pluginNotFound(let type, let directories):
            return "failed to find plugin \"\(type)\" in path [\(directories.joined(separator: " "))]"
        case .invalidPluginType(let type):
            return "invalid plugin type \"\(type)\": expected a file name without \"/\""
        case .spawnFailed(let path, let code):
            return "failed to start plugin \(path): \(String(cString: strerror(code)))"
        case .plugin(let path, let error):
            return "plugin \(path) failed: \(error)"
        case .pluginFailed(let path, let command, let exitStatus, let signal, let stderr, let stdout):
            let ending = signal.map { "was killed by signal \($0)" } ?? "exited with status \(exitStatus ?? -1)"
            var output = stderr.isEmpty ? "no output on stderr" : "stderr: \(stderr)"
            if !stdout.isEmpty { output += "; stdout: \(stdout.prefix(500))" }
            return "plugin \(path) \(command) \(ending) without a CNI error (\(output))"
        case .timedOut(let path, let command, let milliseconds):
            if milliseconds == 0 {
                return "plugin \(path) \(command) was not started: its deadline had already passed"
            }
            return "plugin \(path) \(command) timed out after \(milliseconds) ms; its process group was killed"
        case .invalidOutput(let path, let command, let reason):
            return "plugin \(path) \(command) returned invalid output: \(reason)"
        }
    }
}
