import CLinux
import Glibc

/// Runs a program with posix_spawn and collects its output.
///
/// Foundation's `Process` with `Pipe.readDataToEndOfFile` traps when a
/// signal (for example SIGCHLD from another child) interrupts the read with
/// EINTR, which happens under parallel tests; this runner retries instead.
public enum Subprocess {
    /// The exit status and output of a finished program.
    public struct Output: Sendable {
        /// The exit status, or 128 + the signal number when a signal ended the program.
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Runs `path` with `arguments` (without argv[0]), standard input from
    /// /dev/null, and waits for it to exit. Throws `CommandError` only when the
    /// program cannot be started; check `status` for its outcome.
    public static func run(_ path: String, _ arguments: [String]) throws -> Output {
        var outputPipe: [Int32] = [0, 0]
        var errorPipe: [Int32] = [0, 0]
        guard hydra_pipe_cloexec(&outputPipe) == 0 else { throw startError(path, arguments, errno) }
        guard hydra_pipe_cloexec(&errorPipe) == 0 else {
            close(outputPipe[0]); close(outputPipe[1])
            throw startError(path, arguments, errno)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(outputPipe[1])
        close(errorPipe[1])
        guard status == 0 else {
            close(outputPipe[0]); close(errorPipe[0])
            throw startError(path, arguments, status)
        }

        let (output, errors) = readBoth(outputPipe[0], errorPipe[0])
        close(outputPipe[0])
        close(errorPipe[0])

        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        let exitStatus = (waitStatus & 0x7F) == 0 ? (waitStatus >> 8) & 0xFF : 128 + (waitStatus & 0x7F)
        return Output(status: exitStatus,
                      standardOutput: String(decoding: output, as: UTF8.self),
                      standardError: String(decoding: errors, as: UTF8.self))
    }

    /// Reads two pipes to their ends at the same time, so that neither can fill up and block the child.
    private static func readBoth(_ first: Int32, _ second: Int32) -> ([UInt8], [UInt8]) {
        var buffers: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: first, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: second, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = read(fds[index].fd, &chunk, chunk.count)
                if count > 0 {
                    buffers[index].append(contentsOf: chunk[0..<count])
                } else if count == 0 || errno != EINTR && errno != EAGAIN {
                    fds[index].fd = -1
                }
            }
        }
        return (buffers[0], buffers[1])
    }

    private static func startError(_ path: String, _ arguments: [String], _ code: Int32) -> CommandError {
        CommandError(command: ([path] + arguments).joined(separator: " "), status: -1,
                     standardError: "failed to start: \(String(cString: strerror(code)))")
    }
}
