import CNetlink
import Foundation

/// A NETLINK_ROUTE socket (libnl `nl_sock`), bound to the network namespace
/// of the thread that created it.
///
/// The kernel ties a netlink socket to the namespace current at `socket(2)`
/// time, so create a socket for a pod namespace inside
/// `NetworkNamespace.run`. After that it works from any thread. One request
/// runs at a time per socket: libnl sockets are not thread-safe, so every
/// call takes the socket's lock.
public final class NetlinkSocket: @unchecked Sendable {
    let handle: OpaquePointer
    private let lock = NSLock()

    /// Allocates and connects a socket (nl_socket_alloc, nl_connect NETLINK_ROUTE).
    public init() throws(NetlinkError) {
        guard let handle = nl_socket_alloc() else {
            throw NetlinkError(operation: "allocate", subject: "netlink socket", code: NLE_NOMEM)
        }
        let status = nl_connect(handle, NETLINK_ROUTE)
        if status < 0 {
            nl_socket_free(handle)
            throw NetlinkError(operation: "connect", subject: "netlink route socket", code: status)
        }
        self.handle = handle
    }

    deinit {
        nl_socket_free(handle)
    }

    /// Runs `body` with the raw libnl socket while holding the socket's lock.
    func withHandle<T>(_ body: (OpaquePointer) throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(handle)
    }

    /// Sends a message built with libnl's message API and waits for the
    /// kernel's acknowledgement (nl_send_auto, nl_wait_for_ack). Frees the message.
    func sendAndWaitForAck(_ message: RawMessage, _ operation: String, _ subject: String) throws(NetlinkError) {
        try withHandle { (sock) throws(NetlinkError) in
            try check(nl_send_auto(sock, message.pointer), operation, subject)
            try check(nl_wait_for_ack(sock), operation, subject)
        }
    }

    /// Allocates a libnl cache of `kind` from a kernel dump and passes it to `body`.
    func withCache<T>(
        _ operation: String, _ subject: String,
        allocate: (OpaquePointer, UnsafeMutablePointer<OpaquePointer?>) -> Int32,
        _ body: (OpaquePointer) throws(NetlinkError) -> T
    ) throws(NetlinkError) -> T {
        let cache: OpaquePointer = try withHandle { (sock) throws(NetlinkError) in
            var cache: OpaquePointer?
            try check(allocate(sock, &cache), operation, subject)
            guard let cache else { throw NetlinkError(operation: operation, subject: subject, code: NLE_NOMEM) }
            return cache
        }
        defer { nl_cache_free(cache) }
        return try body(cache)
    }
}

/// Walks the objects of a libnl cache.
func cacheObjects(_ cache: OpaquePointer) -> [OpaquePointer] {
    var objects: [OpaquePointer] = []
    var object = nl_cache_get_first(cache)
    while let current = object {
        objects.append(current)
        object = nl_cache_get_next(current)
    }
    return objects
}

/// A netlink message under construction with libnl's message API, for
/// requests libnl's object API cannot express. Freed on deinit.
final class RawMessage {
    let pointer: OpaquePointer

    /// Allocates a message with header type `type` and flags `flags` (nlmsg_alloc_simple).
    init(type: Int32, flags: Int32) throws(NetlinkError) {
        guard let pointer = nlmsg_alloc_simple(type, flags) else {
            throw NetlinkError(operation: "allocate", subject: "netlink message", code: NLE_NOMEM)
        }
        self.pointer = pointer
    }

    deinit {
        nlmsg_free(pointer)
    }

    /// Appends the fixed `ifinfomsg` header of an RTM_*LINK message.
    func appendLinkHeader(family: Int32, index: Int32, flags: UInt32 = 0, change: UInt32 = 0) throws(NetlinkError) {
        var header = ifinfomsg()
        header.ifi_family = UInt8(family)
        header.ifi_index = index
        header.ifi_flags = flags
        header.ifi_change = change
        let status = withUnsafeMutableBytes(of: &header) { raw in
            nlmsg_append(pointer, raw.baseAddress, raw.count, Int32(NLMSG_ALIGNTO))
        }
        try check(status, "build", "netlink message")
    }

    func putU8(_ type: Int32, _ value: UInt8) throws(NetlinkError) {
        try check(nla_put_u8(pointer, type, value), "build", "netlink attribute \(type)")
    }

    func putU16(_ type: Int32, _ value: UInt16) throws(NetlinkError) {
        try check(nla_put_u16(pointer, type, value), "build", "netlink attribute \(type)")
    }

    func putU32(_ type: Int32, _ value: UInt32) throws(NetlinkError) {
        try check(nla_put_u32(pointer, type, value), "build", "netlink attribute \(type)")
    }

    func putString(_ type: Int32, _ value: String) throws(NetlinkError) {
        try check(nla_put_string(pointer, type, value), "build", "netlink attribute \(type)")
    }

    /// Puts the raw bytes of a C struct as one attribute.
    func putStruct<T>(_ type: Int32, _ value: T) throws(NetlinkError) {
        var copy = value
        let status = withUnsafeBytes(of: &copy) { raw in
            nla_put(pointer, type, Int32(raw.count), raw.baseAddress)
        }
        try check(status, "build", "netlink attribute \(type)")
    }

    /// Wraps the attributes `body` puts in a nested attribute flagged
    /// NLA_F_NESTED, which the bridge code in the kernel requires to parse
    /// IFLA_PROTINFO as nested.
    func nest(_ type: Int32, _ body: () throws(NetlinkError) -> Void) throws(NetlinkError) {
        guard let start = nla_nest_start(pointer, type | NLA_F_NESTED) else {
            throw NetlinkError(operation: "build", subject: "netlink attribute \(type)", code: NLE_NOMEM)
        }
        try body()
        try check(nla_nest_end(pointer, start), "build", "netlink attribute \(type)")
    }
}
