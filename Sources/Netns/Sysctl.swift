import Foundation
import Glibc

/// Kernel parameters under /proc/sys.
///
/// /proc/sys/net shows the network namespace of the thread that opens the
/// file, so call these inside `NetworkNamespace.run` to reach a pod's values.
public enum Sysctl {
    /// Writes `value` to /proc/sys/`key`, where `key` uses slashes
    /// (`net/ipv4/ip_forward`) or dots (`net.ipv4.ip_forward`).
    public static func write(_ key: String, _ value: String) throws(NetnsError) {
        let path = procPath(key)
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw .sysctlFailed(key: key, value: value, errno: errno) }
        defer { close(fd) }
        let written = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        if written < 0 { throw .sysctlFailed(key: key, value: value, errno: errno) }
    }

    /// Reads /proc/sys/`key` without the trailing newline, or nil when it can't be read.
    public static func read(_ key: String) -> String? {
        let path = procPath(key)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = Glibc.read(fd, &buffer, buffer.count)
        if count < 0 { return nil }
        var text = String(decoding: buffer[0..<count], as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    private static func procPath(_ key: String) -> String {
        // Interface names may contain dots, so only a key without slashes
        // is read as dotted.
        let slashed = key.contains("/") ? key : key.replacingOccurrences(of: ".", with: "/")
        return "/proc/sys/" + slashed
    }
}
