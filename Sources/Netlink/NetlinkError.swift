import CNetlink

/// An error from a netlink request. It names the operation and the value it
/// failed on, for example `failed to look up link "eth9": no such device`.
public struct NetlinkError: Error, CustomStringConvertible, Sendable {
    /// What was attempted, as a verb phrase: "look up link", "add address".
    public var operation: String
    /// The value the operation failed on, already quoted where it is a name.
    public var subject: String
    /// The libnl error code (a positive NLE_* value), or 0 for errors found by Hydra itself.
    public var code: Int32
    /// The reason in words.
    public var reason: String

    public init(operation: String, subject: String, code: Int32, reason: String? = nil) {
        self.operation = operation
        self.subject = subject
        self.code = abs(code)
        self.reason = reason ?? NetlinkError.text(forCode: abs(code))
    }

    public var description: String {
        "failed to \(operation) \(subject): \(reason)"
    }

    /// True when the kernel reported that the object does not exist (ENODEV,
    /// ENOENT, ESRCH, all mapped by libnl to NLE_OBJ_NOTFOUND or NLE_NODEV).
    public var isNotFound: Bool {
        code == NLE_OBJ_NOTFOUND || code == NLE_NODEV
    }

    /// True when the kernel reported that the object already exists (EEXIST).
    public var isAlreadyExists: Bool {
        code == NLE_EXIST
    }

    /// Returns libnl's text for an error code (nl_geterror), lowercased to read
    /// inside a sentence. Not-found codes read as "no such device or object".
    static func text(forCode code: Int32) -> String {
        if code == NLE_OBJ_NOTFOUND || code == NLE_NODEV { return "no such device or object" }
        guard let text = nl_geterror(code) else { return "netlink error \(code)" }
        let message = String(cString: text)
        return message.prefix(1).lowercased() + message.dropFirst()
    }
}

/// Throws a `NetlinkError` when a libnl call returned a negative error code.
@discardableResult
func check(_ result: Int32, _ operation: String, _ subject: String) throws(NetlinkError) -> Int32 {
    if result < 0 { throw NetlinkError(operation: operation, subject: subject, code: result) }
    return result
}
