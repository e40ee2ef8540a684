import BackendSDK
import CNI
import Foundation
import Glibc

/// The attachments a backend has made, one JSON file each in its private
/// state directory, so that garbage collection can detach an attachment the
/// host no longer lists. GC requests carry only sandbox id, network name and
/// interface name, but detach needs the network configuration (host-local's
/// `dataDir`, `ipMasq`, the bridge name) and the namespace path, so attach
/// stores the whole request and its result here.
///
/// Each file is `<directory>/<sandbox id>_<interface>.json` (see `path`),
/// containing `{"request": <request JSON>, "result": <CNI result>}`. Files
/// are written to a temporary name and renamed, so a reader never sees a
/// partial file. Safe for concurrent use by different sandboxes.
public struct AttachmentRecords: Sendable {
    /// The directory holding the record files.
    public let directory: String

    /// Uses `<stateDirectory>/attachments`, created on the first save.
    public init(stateDirectory: String) {
        directory = (stateDirectory as NSString).appendingPathComponent("attachments")
    }

    /// One stored attachment.
    public struct Record: Sendable {
        /// The attach request, with `prevResult` set to the attach result.
        public var request: AttachRequest
        /// When the file was last written.
        public var modified: Date
        /// The record file.
        public var path: String
    }

    /// Stores `request` with its attach `result`, or without one when nil,
    /// replacing an older record of the same sandbox and interface. Creates
    /// the directory when missing. The file is written under a temporary
    /// name and renamed, so a reader sees the old record or the new one.
    public func save(_ request: AttachRequest, result: CNIResult?) throws {
        let path = self.path(sandboxID: request.sandboxID, ifName: request.ifName)
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard try writeNew(temporary, try Self.encode(request, result: result)) else {
            throw Self.failure("create", temporary, EEXIST)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw Self.failure("rename to \"\(path)\"", temporary, code)
        }
    }

    /// Stores the record of an attach that is about to start, without a
    /// result. It goes straight to its final name (O_EXCL), without the
    /// temporary file and rename of `save`, which measured about as much
    /// again on ext4. That is safe because the attach starts only after the write:
    /// a partial file left by a crash stands for nothing, and `list` reports
    /// it as unreadable. An existing record is replaced through `save`.
    func saveBeforeAttach(_ request: AttachRequest) throws {
        let path = self.path(sandboxID: request.sandboxID, ifName: request.ifName)
        if try !writeNew(path, try Self.encode(request, result: nil)) {
            try save(request, result: nil)
        }
    }

    private static func encode(_ request: AttachRequest, result: CNIResult?) throws -> [UInt8] {
        var fields: [String: JSONValue] = ["request": request.jsonValue()]
        if let result { fields["result"] = try result.jsonValue() }
        // Key order does not matter to the reader, and sorting costs time on the attach path.
        return [UInt8](JSONValue.object(fields).encoded(sortedKeys: false))
    }

    /// Creates `path` (O_EXCL, mode 0600, creating the directory when
    /// missing) and writes `bytes` to it. Returns false, writing nothing,
    /// when the file exists. Removes a partly written file on failure.
    private func writeNew(_ path: String, _ bytes: [UInt8]) throws -> Bool {
        var descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == ENOENT {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        if descriptor < 0 && errno == EEXIST { return false }
        if descriptor < 0 { throw Self.failure("create", path, errno) }

        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(path)
                throw Self.failure("write", path, code)
            }
            offset += written
        }
        close(descriptor)
        return true
    }

    private static func failure(_ operation: String, _ path: String, _ code: Int32) -> CNIError {
        CNIError(code: CNIError.ioFailure,
                 msg: "failed to \(operation) attachment record \"\(path)\": \(String(cString: strerror(code)))")
    }

    /// Writes the record of `request`, then runs `attach` and returns its
    /// result. Writing the record first means that a crash during the
    /// attach leaves a record behind for gc.
    ///
    /// The first record has no result. With `storeResult` the record is
    /// written again with the result once the attach succeeded, for
    /// networks whose detach needs it (masquerade rules are keyed by the
    /// pod's addresses, which are gone with the pod namespace).
    ///
    /// When the record cannot be written, nothing is attached and the error
    /// is thrown. When the attach fails, the record is deleted and the attach
    /// error rethrown. When the record with the result cannot be written,
    /// `undo` detaches the attachment, the record is deleted and the record
    /// error is thrown.
    public func recordingAttach(_ request: AttachRequest, storeResult: Bool,
                                attach: () throws -> CNIResult,
                                undo: (CNIResult) -> Void) throws -> CNIResult {
        try saveBeforeAttach(request)
        let result: CNIResult
        do {
            result = try attach()
        } catch {
            try? remove(sandboxID: request.sandboxID, ifName: request.ifName)
            throw error
        }

        if storeResult {
            do {
                try save(request, result: result)
            } catch {
                undo(result)
                try? remove(sandboxID: request.sandboxID, ifName: request.ifName)
                throw error
            }
        }
        return result
    }

    /// Deletes the record of `sandboxID` and `ifName`; a missing record is not an error.
    public func remove(sandboxID: String, ifName: String) throws {
        let path = self.path(sandboxID: sandboxID, ifName: ifName)
        if unlink(path) != 0 && errno != ENOENT {
            let code = errno
            throw CNIError(code: CNIError.ioFailure,
                           msg: "failed to delete attachment record \"\(path)\": \(String(cString: strerror(code)))")
        }
    }

    /// Reads every record. Files that cannot be parsed are returned in
    /// `unreadable` so that the caller can log and delete them.
    public func list() -> (records: [Record], unreadable: [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return ([], []) }
        var records: [Record] = []
        var unreadable: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path),
                  let value = try? JSONValue(parsing: data),
                  let requestJSON = value["request"],
                  var request = try? AttachRequest(json: requestJSON)
            else {
                unreadable.append(path)
                continue
            }
            request.prevResult = value["result"]
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let modified = attributes?[.modificationDate] as? Date ?? .distantPast
            records.append(Record(request: request, modified: modified, path: path))
        }
        return (records, unreadable)
    }

    /// Returns the record file of `sandboxID` and `ifName`:
    /// `<sandboxID>_<ifName>.json` with every byte outside `[A-Za-z0-9.-]`
    /// percent-encoded, because sandbox ids are runtime-chosen text that may
    /// contain `/`. A name longer than 200 bytes becomes a SHA-512 digest.
    func path(sandboxID: String, ifName: String) -> String {
        var name = Self.encoded(sandboxID) + "_" + Self.encoded(ifName) + ".json"
        if name.utf8.count > 200 {
            name = SHA512.hexDigest(sandboxID + "\u{0}" + ifName).prefix(40) + ".json"
        }
        return directory + "/" + name
    }

    private static func encoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}
