#if canImport(Glibc)
import Glibc
#endif

/// Unix stream socket helpers for the NRI socket.
public enum UnixSocket {
    /// Connects to the stream socket at `path` (socket(2) + connect(2)) and
    /// returns the descriptor.
    public static func connect(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw WireError.system(call: "socket", errno: errno) }
        var address = try socketAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw WireError.system(call: "connect \(path)", errno: code)
        }
        return fd
    }

    /// Creates a listening stream socket at `path` (socket(2), bind(2),
    /// listen(2)), removing a stale socket file first.
    public static func listen(path: String, backlog: Int32 = 16) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw WireError.system(call: "socket", errno: errno) }
        unlink(path)
        var address = try socketAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw WireError.system(call: "bind \(path)", errno: code)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw WireError.system(call: "listen \(path)", errno: code)
        }
        return fd
    }

    /// Accepts one connection (accept(2)), retrying on EINTR, and marks it
    /// close-on-exec.
    public static func accept(_ listener: Int32) throws -> Int32 {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return fd
            }
            if errno == EINTR { continue }
            throw WireError.system(call: "accept", errno: errno)
        }
    }

    /// Returns a connected pair of stream sockets (socketpair(2)).
    public static func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw WireError.system(call: "socketpair", errno: errno)
        }
        return (fds[0], fds[1])
    }

    private static func socketAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw WireError.system(call: "socket path \(path) longer than \(capacity - 1) bytes", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
