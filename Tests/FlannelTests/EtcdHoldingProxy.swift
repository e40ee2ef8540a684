import EtcdTestSupport
import Foundation
import Glibc

/// A TCP proxy on a kernel-picked loopback port in front of a test etcd.
/// While `holdWatches` is on, it stops forwarding a connection's bytes at the
/// first chunk that carries a `/v3/watch` request, until the hold ends. So a
/// test can let the backend list the leases, change and compact etcd's
/// history, and only then let its watch request reach etcd.
final class EtcdHoldingProxy: @unchecked Sendable {
    let port: UInt16
    var endpoint: String { "http://127.0.0.1:\(port)" }
    private let upstreamPort: UInt16
    private let listener: Int32
    private let condition = NSCondition()
    private var holding = false
    private var heldCount = 0
    private var connections: [Int32] = []
    private var closed = false

    /// Listens on 127.0.0.1 and forwards every connection to 127.0.0.1:`upstreamPort`.
    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound, listen(fd, 16) == 0 else {
            close(fd)
            throw CommandFailed(command: "proxy listen on 127.0.0.1: errno \(errno)", status: -1)
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    /// Whether watch requests are held back. Turning it off releases them.
    var holdWatches: Bool {
        get { condition.withLock { holding } }
        set {
            condition.withLock {
                holding = newValue
                condition.broadcast()
            }
        }
    }

    /// Number of watch requests that have reached the hold so far.
    var heldWatchRequests: Int { condition.withLock { heldCount } }

    /// Shuts down every open connection in both directions, which ends the
    /// backend's running watch stream.
    func dropConnections() {
        // Under the lock, so no descriptor is closed and reused meanwhile.
        condition.withLock {
            for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Stops accepting and drops every connection.
    func stop() {
        condition.withLock {
            closed = true
            holding = false
            condition.broadcast()
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        dropConnections()
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                close(upstream)
                close(client)
                continue
            }
            let accepted = condition.withLock { () -> Bool in
                if closed { return false }
                connections += [client, upstream]
                return true
            }
            guard accepted else {
                close(upstream)
                close(client)
                return
            }
            // Both pumps only shut down; the one that finishes second closes
            // both descriptors. Closing earlier would let accept(2) reuse a
            // number the other pump still shuts down, which would end an
            // unrelated, newer connection.
            let pair = PumpPair(client: client, upstream: upstream)
            Thread { [self] in pump(from: client, to: upstream, inspect: true, pair: pair) }.start()
            Thread { [self] in pump(from: upstream, to: client, inspect: false, pair: pair) }.start()
        }
    }

    /// Copies bytes with read(2) and send(2) until either side closes.
    /// MSG_NOSIGNAL turns a write to a closed peer into EPIPE instead of a
    /// SIGPIPE that would end the test process.
    private func pump(from source: Int32, to destination: Int32, inspect: Bool, pair: PumpPair) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        loop: while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if inspect && String(decoding: buffer[0..<count], as: UTF8.self).contains("/v3/watch") {
                condition.withLock {
                    if holding { heldCount += 1 }
                    while holding && !closed { condition.wait() }
                }
            }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break loop }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
        let last = condition.withLock { () -> Bool in
            pair.running -= 1
            guard pair.running == 0 else { return false }
            connections.removeAll { $0 == pair.client || $0 == pair.upstream }
            return true
        }
        if last {
            close(pair.client)
            close(pair.upstream)
        }
    }
}

/// The two descriptors of one proxied connection and how many of its two
/// pumps still run. Guarded by the proxy's lock.
private final class PumpPair: @unchecked Sendable {
    let client: Int32
    let upstream: Int32
    var running = 2

    init(client: Int32, upstream: Int32) {
        self.client = client
        self.upstream = upstream
    }
}
