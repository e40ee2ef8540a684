import CLinux
import Glibc

/// A network namespace opened by path, for example `/var/run/netns/cni-1234`
/// or `/proc/<pid>/ns/net`.
///
/// The initializer checks that the file really is a network namespace before
/// anything enters it. The open file descriptor keeps the namespace alive
/// until the value is deinitialized, even if its bind mount is removed.
public final class NetworkNamespace: Sendable {
    /// The path the namespace was opened from.
    public let path: String
    /// The open namespace file descriptor (O_RDONLY | O_CLOEXEC), valid for
    /// the lifetime of this value. Pass it to netlink as IFLA_NET_NS_FD.
    public let fileDescriptor: Int32

    /// Opens the namespace at `path` and checks that it is a network namespace:
    /// the file must live on nsfs (fstatfs magic NSFS_MAGIC) and the kernel must
    /// report its type as CLONE_NEWNET (ioctl NS_GET_NSTYPE).
    /// Throws `NetnsError.notFound` when the path does not exist.
    public init(path: String) throws(NetnsError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw .notFound(path: path) }
            throw .openFailed(path: path, errno: code)
        }

        let fsType = hydra_fs_type(fd)
        if fsType != hydra_nsfs_magic() {
            close(fd)
            if fsType < 0 { throw .openFailed(path: path, errno: errno) }
            throw .notNetworkNamespace(
                path: path, reason: "file system magic 0x\(String(fsType, radix: 16)) is not nsfs")
        }

        let type = hydra_ns_get_nstype(fd)
        if type != hydra_clone_newnet() {
            let code = errno
            close(fd)
            if type < 0 {
                throw .notNetworkNamespace(path: path, reason: "NS_GET_NSTYPE failed: \(errnoText(code))")
            }
            throw .notNetworkNamespace(path: path, reason: "namespace type 0x\(String(type, radix: 16)) is not CLONE_NEWNET")
        }

        self.path = path
        self.fileDescriptor = fd
    }

    deinit {
        close(fileDescriptor)
    }

    /// Opens the network namespace of the calling thread (/proc/thread-self/ns/net).
    public static func current() throws(NetnsError) -> NetworkNamespace {
        try NetworkNamespace(path: "/proc/thread-self/ns/net")
    }

    /// Returns the namespace's inode number, which identifies it: two open
    /// files refer to the same namespace when their inode numbers match.
    public var inode: UInt64 {
        var st = stat()
        guard fstat(fileDescriptor, &st) == 0 else { return 0 }
        return UInt64(st.st_ino)
    }

    /// Runs `body` inside this namespace on a thread of the shared
    /// `NamespaceExecutor`, blocking the caller until it returns.
    ///
    /// Don't call this from a Swift concurrency task that must not block.
    /// Use the async overload there.
    public func run<T>(_ body: () throws -> T) throws -> T {
        try NamespaceExecutor.shared.run(in: self, body)
    }

    /// Starts `body` inside this namespace on a thread of the shared
    /// `NamespaceExecutor` and returns a task whose `wait()` returns its value.
    public func start<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> NamespaceTask<T> {
        NamespaceExecutor.shared.start(in: self, body)
    }

    /// Runs `body` inside this namespace on a thread of the shared
    /// `NamespaceExecutor` and resumes the caller when it returns. The calling
    /// task's own thread never changes namespace.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NamespaceExecutor.shared.run(in: self, body)
    }
}
