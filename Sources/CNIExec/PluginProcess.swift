import Foundation
import Glibc

/// Output of a finished plugin process.
struct PluginOutput {
    var stdout: Data
    var stderr: Data
    /// Exit status, or nil when a signal ended the process.
    var exitStatus: Int32?
    var signal: Int32?
}

/// Spawns one plugin process and collects its output, killing its process
/// group when the deadline passes.
enum PluginProcess {
    /// Maximum number of spawn attempts when exec fails with ETXTBSY. The
    /// kernel returns ETXTBSY while another process still has the binary open
    /// for writing, for example right after an installer copied it. libcni
    /// (pkg/invoke/raw_exec.go) retries too, but sleeps a second per try,
    /// which would not fit the runtime's two-second budget.
    static let spawnAttempts = 5

    /// Starts `path` with posix_spawn in a process group of its own
    /// (POSIX_SPAWN_SETPGROUP), writes `input` to its stdin, and reads stdout
    /// and stderr until it exits. When `deadlineNanoseconds` (CLOCK_MONOTONIC,
    /// 0 for none) passes first, sends SIGKILL to the whole group with
    /// kill(-pgid) and throws `.timedOut`.
    static func run(path: String, command: String, environment: [String], input: Data,
                    deadlineNanoseconds: Int64) throws(CNIExecError) -> PluginOutput {
        let started = MonotonicClock.now()
        var attempt = 1
        while true {
            do {
                return try runOnce(path: path, command: command, environment: environment, input: input,
                                   deadlineNanoseconds: deadlineNanoseconds, started: started)
            } catch .spawnFailed(path: path, errno: ETXTBSY) where attempt < spawnAttempts {
                // Back off 50, 100, 200, 400 ms, but never past the deadline.
                let pause = Int64(50_000_000) << Int64(attempt - 1)
                if deadlineNanoseconds != 0 && MonotonicClock.now() + pause >= deadlineNanoseconds {
                    throw .spawnFailed(path: path, errno: ETXTBSY)
                }
                usleep(useconds_t(pause / 1000))
                attempt += 1
            }
        }
    }

    private static func runOnce(path: String, command: String, environment: [String], input: Data,
                                deadlineNanoseconds: Int64, started: Int64) throws(CNIExecError) -> PluginOutput {
        // The three stdio channels are Unix socket pairs rather than pipes:
        // socketpair takes SOCK_CLOEXEC atomically (Glibc's Swift module has
        // no pipe2), and send(MSG_NOSIGNAL) on stdin fails with EPIPE instead
        // of raising SIGPIPE in the host when the plugin exits unread.
        var stdinPair: [Int32] = [-1, -1]
        var stdoutPair: [Int32] = [-1, -1]
        var stderrPair: [Int32] = [-1, -1]
        let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, socketType, 0, &stdinPair) == 0 else {
            throw .spawnFailed(path: path, errno: errno)
        }
        guard socketpair(AF_UNIX, socketType, 0, &stdoutPair) == 0 else {
            let code = errno
            closeAll(stdinPair)
            throw .spawnFailed(path: path, errno: code)
        }
        guard socketpair(AF_UNIX, socketType, 0, &stderrPair) == 0 else {
            let code = errno
            closeAll(stdinPair + stdoutPair)
            throw .spawnFailed(path: path, errno: code)
        }

        let pid: pid_t
        do {
            pid = try spawn(path: path, environment: environment,
                            stdin: stdinPair[1], stdout: stdoutPair[1], stderr: stderrPair[1])
        } catch {
            closeAll(stdinPair + stdoutPair + stderrPair)
            throw error
        }
        // The child has its copies; keep only the parent's ends.
        close(stdinPair[1])
        close(stdoutPair[1])
        close(stderrPair[1])

        var io = ChildIO(stdin: stdinPair[0], stdout: stdoutPair[0], stderr: stderrPair[0], input: input)
        defer { io.closeAll() }

        var status: Int32 = 0
        var exited = false
        while true {
            if !exited {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid { exited = true }
            }
            if exited {
                // The plugin is gone. Take what is buffered and stop, even if
                // a child it left behind keeps the sockets open.
                io.drain()
                break
            }
            let now = MonotonicClock.now()
            if deadlineNanoseconds != 0 && now >= deadlineNanoseconds {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw .timedOut(path: path, command: command, afterMilliseconds: (now - started) / 1_000_000)
            }
            // Poll in short slices so that the exit of the plugin is noticed
            // even when a grandchild keeps stdout open.
            var sliceMilliseconds: Int64 = 20
            if deadlineNanoseconds != 0 {
                sliceMilliseconds = min(sliceMilliseconds, max(1, (deadlineNanoseconds - now) / 1_000_000))
            }
            io.pollOnce(timeoutMilliseconds: Int32(sliceMilliseconds))
        }

        let exitStatus: Int32? = (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil
        let signal: Int32? = (status & 0x7f) == 0 ? nil : status & 0x7f
        return PluginOutput(stdout: io.stdoutData, stderr: io.stderrData, exitStatus: exitStatus, signal: signal)
    }

    /// Calls posix_spawn with the child's stdio on the given descriptors, its
    /// own process group, an empty signal mask and default SIGPIPE handling.
    private static func spawn(path: String, environment: [String], stdin: Int32, stdout: Int32,
                              stderr: Int32) throws(CNIExecError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes,
                                 Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }

        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw .spawnFailed(path: path, errno: result) }
        return pid
    }

    private static func closeAll(_ descriptors: [Int32]) {
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }
}

/// The parent's ends of a plugin's stdio: writes the input, collects the output.
private struct ChildIO {
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
    let input: Data
    var written = 0
    var stdoutData = Data()
    var stderrData = Data()

    init(stdin: Int32, stdout: Int32, stderr: Int32, input: Data) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.input = input
        for descriptor in [stdin, stdout, stderr] {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        if input.isEmpty { closeStdin() }
    }

    /// Waits up to `timeoutMilliseconds` for any descriptor to be ready and serves it.
    mutating func pollOnce(timeoutMilliseconds: Int32) {
        var descriptors: [pollfd] = []
        if stdin >= 0 { descriptors.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
        if stdout >= 0 { descriptors.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
        if stderr >= 0 { descriptors.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
        guard !descriptors.isEmpty else {
            usleep(useconds_t(timeoutMilliseconds) * 1000)
            return
        }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds)
        guard ready > 0 else { return }
        for entry in descriptors where entry.revents != 0 {
            if entry.fd == stdin { writeInput() }
            if entry.fd == stdout { read(&stdout, into: &stdoutData) }
            if entry.fd == stderr { read(&stderr, into: &stderrData) }
        }
    }

    /// Reads whatever is already buffered in stdout and stderr, without waiting.
    mutating func drain() {
        read(&stdout, into: &stdoutData)
        read(&stderr, into: &stderrData)
    }

    mutating func closeAll() {
        closeStdin()
        if stdout >= 0 { close(stdout); stdout = -1 }
        if stderr >= 0 { close(stderr); stderr = -1 }
    }

    private mutating func closeStdin() {
        if stdin >= 0 { close(stdin); stdin = -1 }
    }

    private mutating func writeInput() {
        let sent = input.withUnsafeBytes { buffer in
            send(stdin, buffer.baseAddress! + written, buffer.count - written, Int32(MSG_NOSIGNAL))
        }
        if sent > 0 {
            written += sent
            if written == input.count { closeStdin() }
        } else if sent < 0 && errno != EAGAIN && errno != EINTR {
            // The plugin closed its stdin (EPIPE): it does not want the rest.
            closeStdin()
        }
    }

    /// Reads until EAGAIN; closes the descriptor at end of file.
    private func read(_ descriptor: inout Int32, into data: inout Data) {
        guard descriptor >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                close(descriptor)
                descriptor = -1
                return
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN { close(descriptor); descriptor = -1 }
                return
            }
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds, the clock of every deadline in Hydra.
public enum MonotonicClock {
    /// Reads CLOCK_MONOTONIC with clock_gettime.
    public static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
