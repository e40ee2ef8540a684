import Foundation

/// One key-value pair as etcd stores it (mvccpb.KeyValue).
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: Data
    public var createRevision: Int64
    public var modRevision: Int64
    /// Number of writes since creation; 0 means the key does not exist.
    public var version: Int64
    /// The id of the lease attached to the key, 0 for none.
    public var lease: Int64

    public init(key: String, value: Data, createRevision: Int64 = 0, modRevision: Int64 = 0,
                version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    /// The value as UTF-8 text.
    public var stringValue: String { String(decoding: value, as: UTF8.self) }
}

/// The result of a range request: the matching pairs and the store revision it was read at.
public struct EtcdRangeResult: Sendable {
    public var kvs: [EtcdKeyValue]
    /// The revision of the whole store when the range was served. A watch
    /// from `revision + 1` receives every later change.
    public var revision: Int64
    public var more: Bool
}

/// A granted or renewed lease.
public struct EtcdLease: Sendable, Equatable {
    public var id: Int64
    /// Remaining time to live in seconds; 0 or less after a keepalive means the lease no longer exists.
    public var ttl: Int64
}

/// One change reported by a watch.
public struct EtcdEvent: Sendable, Equatable {
    public enum Kind: String, Sendable { case put = "PUT", delete = "DELETE" }
    public var kind: Kind
    /// For a delete only `key` and `modRevision` are set.
    public var kv: EtcdKeyValue
}

/// Decoding of the JSON gateway's encoding: proto3 JSON, where bytes are
/// base64, 64-bit integers are strings and zero values are omitted.
enum GatewayJSON {
    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func base64(_ data: Data) -> String { data.base64EncodedString() }

    /// Reads an int64 field that may be a string, a number, or missing (zero).
    static func int64(_ value: Any?) -> Int64 {
        switch value {
        case let text as String: return Int64(text) ?? 0
        case let number as NSNumber: return number.int64Value
        default: return 0
        }
    }

    static func bool(_ value: Any?) -> Bool {
        switch value {
        case let flag as Bool: return flag
        case let number as NSNumber: return number.boolValue
        default: return false
        }
    }

    /// Decodes a base64 field, missing meaning empty.
    static func bytes(_ value: Any?) -> Data? {
        guard let text = value as? String else { return value == nil ? Data() : nil }
        return Data(base64Encoded: text)
    }

    static func keyValue(_ object: Any?) -> EtcdKeyValue? {
        guard let fields = object as? [String: Any],
              let key = bytes(fields["key"]), let value = bytes(fields["value"]) else { return nil }
        return EtcdKeyValue(key: String(decoding: key, as: UTF8.self), value: value,
                            createRevision: int64(fields["create_revision"]),
                            modRevision: int64(fields["mod_revision"]),
                            version: int64(fields["version"]), lease: int64(fields["lease"]))
    }

    /// Returns the first key after every key that starts with `prefix`,
    /// the `range_end` of a prefix range: the prefix with its last byte
    /// incremented, dropping trailing 0xff bytes.
    static func prefixEnd(_ prefix: String) -> Data {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        // Every byte is 0xff: "\0" means "to the end of the keyspace".
        return Data([0])
    }
}
