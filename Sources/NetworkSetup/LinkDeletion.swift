import BackendSDK
import CLinux
import CNI
import Foundation
import Netlink
import Netns

/// A link deletion whose caller goes on once the kernel has removed the link
/// from its namespace, while the rest of the deletion finishes on a
/// background thread.
///
/// An RTM_DELLINK request returns only after `netdev_run_todo` has waited
/// for an RCU barrier and for the device's last references: 10 to 30 ms
/// on a 2-core machine, against under 1 ms to unlist the device and send
/// the RTM_DELLINK notification. Once unlisted, the name, addresses, routes
/// and bridge port are gone, which is all that CNI DEL promises, so detach
/// waits for the notifications (`LinkRemovalWatch`) and not for the
/// acknowledgement.
public final class LinkDeletion: @unchecked Sendable {
    /// The maximum number of deletions running in the background at once. Beyond
    /// it, a deletion runs on the caller's thread, so a kernel that never
    /// frees a device cannot take an unbounded number of threads.
    public static let maxInBackground = 32

    private let index: Int32
    // Written by the deleting thread before it writes to `pipe`, read only
    // after `pipe` is readable or after a synchronous deletion.
    private var failure: NetlinkError?
    private let pipe: (read: Int32, write: Int32)

    /// Starts deleting the link at `index` through `socket` (RTM_DELLINK) on
    /// a background thread. Call it from a thread in the process's own
    /// network namespace, because a new background thread inherits the
    /// caller's. Create the watches that `waitForRemoval` reads first, so
    /// that no notification is sent before they exist.
    public init(index: Int32, socket: NetlinkSocket) throws(NetlinkError) {
        self.index = index
        var descriptors: [Int32] = [-1, -1]
        guard hydra_pipe_cloexec(&descriptors) == 0 else {
            throw NetlinkError(operation: "delete", subject: "link with index \(index)", code: 0,
                               reason: "failed to create a pipe: \(String(cString: strerror(errno)))")
        }
        pipe = (descriptors[0], descriptors[1])

        guard InBackground.shared.acquire() else {
            delete(socket)
            return
        }
        BackgroundThreads.shared.run { [self] in
            delete(socket)
            InBackground.shared.release()
        }
    }

    deinit {
        close(pipe.read)
        close(pipe.write)
    }

    /// Waits until each watch has seen the removal of its link, or until
    /// the deletion request itself returned, whichever comes first.
    ///
    /// - Parameters:
    ///   - watched: a watch in each namespace concerned and the index of the
    ///     link it must see removed there: the deleted link, and a veth's
    ///     peer, which the kernel deletes in the same batch.
    ///   - deadline: when to stop waiting; the deletion goes on regardless.
    /// - Throws: the deletion's `NetlinkError`, unless the link was already
    ///   gone; `CNIError` code 11 (try again later) when the deadline passes.
    public func waitForRemoval(_ watched: [(watch: LinkRemovalWatch, index: Int32)], deadline: Deadline) throws {
        var pending = watched
        while true {
            pending.removeAll { $0.watch.hasSeenRemoval(of: $0.index) }
            // A watch that overflowed may have missed the notification, so
            // only the completed request confirms that the link is gone.
            let trusted = !pending.contains { $0.watch.overflowed }
            if pending.isEmpty && trusted { return }

            var descriptors = [pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
            if trusted {
                descriptors += pending.map { pollfd(fd: $0.watch.fileDescriptor, events: Int16(POLLIN), revents: 0) }
            }
            let timeout = deadline == .none ? -1 : Int32((deadline.secondsLeft(max: 3600) * 1000).rounded(.up))
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                throw NetlinkError(operation: "wait for the deletion of", subject: "link with index \(index)", code: 0,
                                   reason: "poll failed: \(String(cString: strerror(errno)))")
            }
            if descriptors[0].revents != 0 {
                if let failure, !failure.isNotFound { throw failure }
                return
            }
            if ready == 0 && deadline.hasExpired {
                throw CNIError(code: CNIError.tryAgainLater,
                               msg: "timed out waiting for the kernel to delete the link with index \(index)")
            }
        }
    }

    /// Sends the RTM_DELLINK, waits for its acknowledgement and signals the
    /// pipe.
    private func delete(_ socket: NetlinkSocket) {
        do {
            try socket.deleteLink(index: index)
        } catch {
            failure = error
        }
        var byte: UInt8 = 1
        _ = write(pipe.write, &byte, 1)
    }
}

/// The count of deletions running on background threads, bounded by
/// `LinkDeletion.maxInBackground`.
private final class InBackground: @unchecked Sendable {
    static let shared = InBackground()

    // Sendable: `count` is only touched with `lock` held.
    private let lock = NSLock()
    private var count = 0

    /// Takes a slot and returns true, or returns false when all are taken.
    func acquire() -> Bool {
        lock.withLock {
            guard count < LinkDeletion.maxInBackground else { return false }
            count += 1
            return true
        }
    }

    func release() {
        lock.withLock { count -= 1 }
    }
}

/// The deletion of a pod interface for CNI DEL: looks the interface up in
/// the pod namespace, starts a `LinkDeletion`, and waits for the kernel to
/// remove the interface and, for a veth, its peer in the host namespace.
public final class PodInterfaceDeletion: Sendable {
    /// The global addresses the interface had, when the caller requested them.
    public let addresses: [IPNetwork]

    private let deletion: LinkDeletion
    private let watched: [(watch: LinkRemovalWatch, index: Int32)]

    /// Looks up `ifName` on `pod`'s thread and starts deleting it. Returns
    /// nil when the interface is not there. Call it from a thread in the
    /// process's own namespace.
    ///
    /// - Parameters:
    ///   - ifName: the interface name in the pod namespace.
    ///   - pod: the pod's network namespace.
    ///   - host: the namespace of a veth's peer.
    ///   - readAddresses: whether to read the interface's global addresses
    ///     into `addresses` first (an RTM_GETADDR dump).
    public init?(ifName: String, in pod: NetworkNamespace, host: HostNamespace, readAddresses: Bool) throws {
        let lookup = pod.start { () throws -> (NetlinkSocket, Link, [IPNetwork], LinkRemovalWatch)? in
            let socket = try NetlinkSocket()
            guard let link = try socket.linkIfPresent(named: ifName) else { return nil }
            let addresses = readAddresses ? try socket.addresses(index: link.index).filter(\.isGlobal).map(\.network) : []
            return (socket, link, addresses, try LinkRemovalWatch())
        }
        guard let (socket, link, addresses, podWatch) = try lookup.wait() else { return nil }

        // Both watches exist before the deletion starts, so neither can miss
        // its removal.
        var watched = [(watch: podWatch, index: link.index)]
        if link.kind == "veth" && link.parentIndex > 0 {
            watched.append((try host.run { try LinkRemovalWatch() }, link.parentIndex))
        }
        self.addresses = addresses
        self.watched = watched
        deletion = try LinkDeletion(index: link.index, socket: socket)
    }

    /// Waits until the kernel has removed the interface, and a veth's peer,
    /// from their namespaces, or until `deadline`. An interface deleted
    /// meanwhile by someone else counts as removed.
    public func wait(deadline: Deadline) throws {
        try deletion.waitForRemoval(watched, deadline: deadline)
    }
}
