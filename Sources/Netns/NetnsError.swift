import Glibc

/// An error from opening, checking or entering a network namespace.
/// Every case carries the namespace path and, where a system call failed, its errno.
public enum NetnsError: Error, Equatable, CustomStringConvertible {
    /// The namespace path does not exist (ENOENT): the namespace is gone or was never created.
    case notFound(path: String)
    /// The path exists but is not a network namespace file.
    case notNetworkNamespace(path: String, reason: String)
    /// `open(2)` on the path failed for a reason other than ENOENT.
    case openFailed(path: String, errno: Int32)
    /// `setns(2)` into the namespace failed.
    case enterFailed(path: String, errno: Int32)
    /// `setns(2)` back into the executor thread's home namespace failed.
    /// The thread is discarded after this error.
    case returnFailed(path: String, errno: Int32)
    /// The executor could not start its dedicated thread.
    case threadStartFailed(errno: Int32)
    /// Writing a sysctl under /proc/sys failed.
    case sysctlFailed(key: String, value: String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "network namespace \"\(path)\" not found"
        case .notNetworkNamespace(let path, let reason):
            return "\"\(path)\" is not a network namespace: \(reason)"
        case .openFailed(let path, let code):
            return "failed to open network namespace \"\(path)\": \(errnoText(code))"
        case .enterFailed(let path, let code):
            return "failed to enter network namespace \"\(path)\": \(errnoText(code))"
        case .returnFailed(let path, let code):
            return "failed to return from network namespace \"\(path)\" to the host namespace: \(errnoText(code))"
        case .threadStartFailed(let code):
            return "failed to start the network namespace thread: \(errnoText(code))"
        case .sysctlFailed(let key, let value, let code):
            return "failed to set sysctl \(key) to \"\(value)\": \(errnoText(code))"
        }
    }
}

/// Returns strerror's text for an errno value.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
