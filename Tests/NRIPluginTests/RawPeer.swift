import Foundation
import NRIWire
import Glibc

/// The runtime's end of a socket driven byte by byte: it writes what a test
/// gives it and decodes what the plugin sends back. Used to replay captures
/// and to play a hostile runtime.
final class RawPeer: @unchecked Sendable {
    let fd: Int32
    private var mux = MuxDecoder()
    private var streams: [UInt32: TTRPCStreamDecoder] = [1: TTRPCStreamDecoder(), 2: TTRPCStreamDecoder()]
    private var queued: [(UInt32, TTRPCFrame)] = []

    init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    func send(_ frame: TTRPCFrame, on connection: UInt32) throws {
        write(Mux.encode(connection: connection, payload: try frame.encoded()))
    }

    /// Returns the plugin's next ttrpc message, or nil when none arrives
    /// within `timeout` or the plugin closed the socket.
    /// Polls without blocking and sleeps between polls, so that waiting
    /// never occupies one of the few cooperative threads the plugin under
    /// test needs.
    func next(timeout: Duration = .seconds(20)) async -> (connection: UInt32, message: TTRPCFrame)? {
        let end = ContinuousClock.now + timeout
        while queued.isEmpty {
            let remaining = end - ContinuousClock.now
            guard remaining > .zero else { return nil }
            var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, 0) > 0 else {
                try? await Task.sleep(for: .milliseconds(2))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return nil }
            guard let frames = try? mux.feed(Array(buffer[0..<count])) else { return nil }
            for frame in frames {
                for message in (try? streams[frame.connection]!.feed(frame.payload)) ?? [] {
                    queued.append((frame.connection, message))
                }
            }
        }
        return queued.removeFirst()
    }

    /// Whether the plugin closed its end within `timeout`.
    func waitForClose(timeout: Duration = .seconds(20)) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, 0) > 0 else {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { return true }
        }
        return false
    }
}
