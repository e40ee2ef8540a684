import CNI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A record file that could not be read or decoded. The store has moved it
/// aside to `movedTo`, so the next start does not trip over it again.
public struct UnreadableRecord: Sendable, Equatable {
    /// Sandbox id taken from the file name.
    public var sandboxID: String
    public var movedTo: String
    public var reason: String
}

/// An error from reading or writing the state directory, with the path.
public struct StateStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The per-sandbox record files: `<stateDir>/sandboxes/<sandbox id>.json`.
/// Unreadable files are moved to `<stateDir>/unreadable/`.
///
/// Writes are atomic: the record goes to a temporary file in the same
/// directory, which is fsynced and renamed over the old file, and the
/// directory is fsynced so the rename survives a power loss.
public struct StateStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    var sandboxesDirectory: String { directory + "/sandboxes" }
    var unreadableDirectory: String { directory + "/unreadable" }

    func path(for sandboxID: String) throws -> String {
        let safe = !sandboxID.isEmpty && !sandboxID.hasPrefix(".")
            && sandboxID.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        guard safe else {
            throw StateStoreError(description: "sandbox id \"\(sandboxID)\" is not usable as a file name: expected letters, digits, '-', '_' and '.'")
        }
        return "\(sandboxesDirectory)/\(sandboxID).json"
    }

    /// Writes the record atomically, creating the directories when needed.
    public func save(_ record: SandboxRecord) throws {
        let target = try path(for: record.sandboxID)
        try Self.makeDirectory(sandboxesDirectory)
        let data = try record.jsonValue().encoded(sortedKeys: true)
        let temporary = "\(sandboxesDirectory)/.\(record.sandboxID).json.tmp"
        try Self.writeSynced(data, to: temporary)
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw StateStoreError(description: "failed to rename \"\(temporary)\" to \"\(target)\": \(String(cString: strerror(code)))")
        }
        try Self.syncDirectory(sandboxesDirectory)
    }

    /// Reads one record; nil when the sandbox has none. A file that cannot
    /// be decoded is moved aside and reported as `UnreadableRecord` in the error.
    public func load(sandboxID: String) throws -> SandboxRecord? {
        let file = try path(for: sandboxID)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        return try decode(file: file, sandboxID: sandboxID)
    }

    /// Deletes a sandbox's record; a missing file is not an error.
    public func remove(sandboxID: String) throws {
        let file = try path(for: sandboxID)
        if unlink(file) != 0 && errno != ENOENT {
            throw StateStoreError(description: "failed to delete \"\(file)\": \(String(cString: strerror(errno)))")
        }
        try Self.syncDirectory(sandboxesDirectory)
    }

    /// Reads every record. Unreadable files are moved aside and listed
    /// separately; leftover temporary files from an interrupted write are deleted.
    public func loadAll() throws -> (records: [SandboxRecord], unreadable: [UnreadableRecord]) {
        guard FileManager.default.fileExists(atPath: sandboxesDirectory) else { return ([], []) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: sandboxesDirectory).sorted()
        } catch {
            throw StateStoreError(description: "failed to list \"\(sandboxesDirectory)\": \(error.localizedDescription)")
        }
        var records: [SandboxRecord] = []
        var unreadable: [UnreadableRecord] = []
        for name in names {
            let file = "\(sandboxesDirectory)/\(name)"
            if name.hasPrefix(".") && name.hasSuffix(".tmp") {
                unlink(file)
                continue
            }
            guard name.hasSuffix(".json") else { continue }
            let sandboxID = String(name.dropLast(".json".count))
            do {
                if let record = try decode(file: file, sandboxID: sandboxID) { records.append(record) }
            } catch let error as UnreadableRecordError {
                unreadable.append(error.record)
            }
        }
        return (records, unreadable)
    }

    /// Lists the files moved aside so far, for reporting.
    public func unreadableFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: unreadableDirectory)) ?? []
        return names.sorted().map { "\(unreadableDirectory)/\($0)" }
    }

    private func decode(file: String, sandboxID: String) throws -> SandboxRecord? {
        let reason: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let record = try SandboxRecord(json: try JSONValue(parsing: data))
            if record.sandboxID == sandboxID { return record }
            reason = "the file names sandbox \"\(sandboxID)\" but contains \"\(record.sandboxID)\""
        } catch {
            reason = "\(error)"
        }
        throw UnreadableRecordError(record: try moveAside(file: file, sandboxID: sandboxID, reason: reason))
    }

    private func moveAside(file: String, sandboxID: String, reason: String) throws -> UnreadableRecord {
        try Self.makeDirectory(unreadableDirectory)
        let stamp = Int(Date().timeIntervalSince1970)
        let target = "\(unreadableDirectory)/\(sandboxID).json.\(stamp)"
        guard rename(file, target) == 0 else {
            throw StateStoreError(description: "failed to move unreadable record \"\(file)\" to \"\(target)\": \(String(cString: strerror(errno)))")
        }
        try Self.syncDirectory(sandboxesDirectory)
        return UnreadableRecord(sandboxID: sandboxID, movedTo: target, reason: reason)
    }

    private static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw StateStoreError(description: "failed to create \"\(path)\": \(error.localizedDescription)")
        }
    }

    /// Writes `data` to `path` (truncating) and fsyncs it (`open`, `write`, `fsync`).
    private static func writeSynced(_ data: Data, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StateStoreError(description: "failed to create \"\(path)\": \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw StateStoreError(description: "failed to write \"\(path)\": \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            throw StateStoreError(description: "failed to fsync \"\(path)\": \(String(cString: strerror(errno)))")
        }
    }

    /// Fsyncs a directory so renames and unlinks in it are durable.
    private static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw StateStoreError(description: "failed to open directory \"\(path)\": \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw StateStoreError(description: "failed to fsync directory \"\(path)\": \(String(cString: strerror(errno)))")
        }
    }
}

/// Thrown by `StateStore.load(sandboxID:)` for a file it moved aside.
public struct UnreadableRecordError: Error, Sendable, CustomStringConvertible {
    public var record: UnreadableRecord

    public var description: String {
        "unreadable record for sandbox \"\(record.sandboxID)\" moved to \"\(record.movedTo)\": \(record.reason)"
    }
}
