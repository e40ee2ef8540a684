import Foundation

/// The source of the client's bearer token.
public enum BearerToken: Sendable {
    /// Send no `Authorization` header.
    case none
    /// A fixed token.
    case value(String)
    /// A file holding the token, re-read when it changes. The kubelet rotates
    /// bound service-account tokens by replacing the file (an atomic symlink
    /// swap under the projected volume), so the file's identity and
    /// modification time change with each rotation.
    case file(String)
}

/// Reads a `BearerToken`, caching a file's content until the file changes.
/// The token is never logged and never part of an error message.
final class BearerTokenSource: @unchecked Sendable {
    /// How long a cached file token is used without checking the file again.
    static let recheckInterval: TimeInterval = 10

    private struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
        var modificationSeconds: Int
        var modificationNanoseconds: Int
        var size: Int64
    }

    private let token: BearerToken
    private let lock = NSLock()
    private var cachedValue: String?
    private var cachedIdentity: FileIdentity?
    private var lastCheck: Date = .distantPast

    init(_ token: BearerToken) {
        self.token = token
    }

    /// Returns the current token, or nil for `.none`. Throws
    /// `KubernetesError.invalidConfiguration` when the file cannot be read.
    func current() throws -> String? {
        switch token {
        case .none:
            return nil
        case .value(let value):
            return value
        case .file(let path):
            lock.lock()
            defer { lock.unlock() }
            return try readFile(path, force: false)
        }
    }

    /// Drops the cached file content so the next `current()` reads the file,
    /// for example after the API server returned 401.
    func invalidate() {
        lock.lock()
        cachedIdentity = nil
        cachedValue = nil
        lock.unlock()
    }

    private func readFile(_ path: String, force: Bool) throws -> String {
        let now = Date()
        if !force, let cachedValue, now.timeIntervalSince(lastCheck) < Self.recheckInterval {
            return cachedValue
        }

        // stat follows the symlink, so a swapped `..data` link shows a new inode.
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw KubernetesError.invalidConfiguration("failed to read bearer token file \"\(path)\": \(reason)")
        }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                                    modificationSeconds: Int(info.st_mtim.tv_sec),
                                    modificationNanoseconds: Int(info.st_mtim.tv_nsec),
                                    size: Int64(info.st_size))
        lastCheck = now
        if !force, let cachedValue, identity == cachedIdentity {
            return cachedValue
        }

        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubernetesError.invalidConfiguration("failed to read bearer token file \"\(path)\"")
        }
        let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else {
            throw KubernetesError.invalidConfiguration("bearer token file \"\(path)\" is empty")
        }
        cachedValue = value
        cachedIdentity = identity
        return value
    }
}
