import CLinux
import Glibc

/// Runs a program with posix_spawn and collects its output.
///
/// Foundation's `Process` with `Pipe.readDataToEndOfFile` traps when a
/// signal (for example SIGCHLD from another child) interrupts the read with
/// EINTR. That happens under parallel tests, so this runner retries instead.
public enum Subprocess {
    /// The exit status and output of a finished program.
    public struct Output: Sendable {
        /// The exit status, or 128 + the signal number when a signal ended the program.
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Runs `path` with `arguments` (without argv[0]) and waits for it to exit.
    /// Standard input is `input`, or /dev/null when nil; `input` must fit in a
    /// pipe buffer (64 KiB on Linux). `environment` replaces the inherited
    /// environment when given. Throws `CommandError` only when the program
    /// cannot be started; check `status` for its outcome.
    public static func run(_ path: String, _ arguments: [String], input: [UInt8]? = nil,
                           environment: [String: String]? = nil) throws -> Output {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        defer { (inputPipe + outputPipe + errorPipe).filter { $0 >= 0 }.forEach { close($0) } }
        guard hydra_pipe_cloexec(&outputPipe) == 0, hydra_pipe_cloexec(&errorPipe) == 0,
              input == nil || hydra_pipe_cloexec(&inputPipe) == 0
        else { throw startError(path, arguments, errno) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { variables in
            variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let status = envp.map { posix_spawn(&pid, path, &actions, nil, argv, $0) }
            ?? posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(outputPipe[1]); outputPipe[1] = -1
        close(errorPipe[1]); errorPipe[1] = -1
        guard status == 0 else { throw startError(path, arguments, status) }

        if let input {
            close(inputPipe[0]); inputPipe[0] = -1
            var offset = 0
            while offset < input.count {
                let written = input[offset...].withUnsafeBytes { write(inputPipe[1], $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    break
                }
                offset += written
            }
            close(inputPipe[1]); inputPipe[1] = -1
        }

        let (output, errors) = readBoth(outputPipe[0], errorPipe[0])

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
