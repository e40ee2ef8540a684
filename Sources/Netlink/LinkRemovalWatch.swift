import CNetlink
import Glibc

/// A subscription to the link notifications (RTNLGRP_LINK) of the network
/// namespace that was current when it was created. It tells when the kernel
/// has removed a link from that namespace.
///
/// The kernel sends RTM_DELLINK once it has unlisted the device: the name,
/// the addresses, the routes and the bridge port are gone. It sends the
/// notification before `netdev_run_todo` waits for an RCU barrier and for
/// the device's last references, which is most of a deletion's time. So a
/// watch receives the notification well before the request is acknowledged.
public final class LinkRemovalWatch: @unchecked Sendable {
    /// The netlink socket, non-blocking, to poll(2) for readability.
    public let fileDescriptor: Int32

    /// True when the kernel dropped notifications because the socket's
    /// receive buffer was full (ENOBUFS). A removal may then have gone
    /// unseen, so the caller must learn it another way.
    public private(set) var overflowed = false

    // Only touched by the one thread that reads the watch.
    private var removed: Set<Int32> = []
    private var buffer = [UInt8](repeating: 0, count: 32 * 1024)

    /// Opens a NETLINK_ROUTE socket bound to the RTNLGRP_LINK multicast group
    /// (socket(2), bind(2) with `nl_groups` RTMGRP_LINK).
    ///
    /// - Parameter receiveBufferBytes: a receive buffer size to set with
    ///   SO_RCVBUF instead of the system default. The kernel doubles it and
    ///   raises it to its minimum.
    public init(receiveBufferBytes: Int32? = nil) throws(NetlinkError) {
        let descriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                                NETLINK_ROUTE)
        guard descriptor >= 0 else { throw Self.error("open", errno) }

        if var size = receiveBufferBytes,
           setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let code = errno
            close(descriptor)
            throw Self.error("set the receive buffer of", code)
        }

        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = UInt32(RTMGRP_LINK)
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        guard status == 0 else {
            let code = errno
            close(descriptor)
            throw Self.error("bind", code)
        }
        fileDescriptor = descriptor
    }

    deinit {
        close(fileDescriptor)
    }

    /// Reads every notification waiting on the socket without blocking and
    /// returns whether an RTM_DELLINK for `index` has arrived since the
    /// watch was created.
    public func hasSeenRemoval(of index: Int32) -> Bool {
        drain()
        return removed.contains(index)
    }

    /// Reads the queued notifications (recv(2) until EAGAIN) and notes the
    /// index of every RTM_DELLINK among them.
    private func drain() {
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fileDescriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS {
                    overflowed = true
                    continue
                }
                return
            }
            if count == 0 { return }
            noteRemovals(in: buffer[0..<count])
        }
    }

    /// Walks the netlink messages in `bytes` and records the ifindex of each
    /// RTM_DELLINK. Netlink fields are in host byte order.
    private func noteRemovals(in bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { raw in
            let headerSize = MemoryLayout<nlmsghdr>.size
            var offset = 0
            while raw.count - offset >= headerSize {
                let header = raw.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
                let length = Int(header.nlmsg_len)
                guard length >= headerSize, length <= raw.count - offset else { return }
                if header.nlmsg_type == UInt16(RTM_DELLINK), length >= headerSize + MemoryLayout<ifinfomsg>.size {
                    let link = raw.loadUnaligned(fromByteOffset: offset + headerSize, as: ifinfomsg.self)
                    removed.insert(link.ifi_index)
                }
                offset += (length + 3) & ~3
            }
        }
    }

    private static func error(_ operation: String, _ code: Int32) -> NetlinkError {
        NetlinkError(operation: operation, subject: "link notification socket", code: nl_syserr2nlerr(code),
                     reason: String(cString: strerror(code)))
    }
}
