import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.0 GET client for Hydra's own endpoints, used by
/// `hydra status` and the tests. It speaks plain HTTP to one address and
/// does the blocking socket work on a dedicated thread.
public enum EndpointClient {
    /// An HTTP response: the status code and the body as text.
    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    /// Sends `GET path` to `address` and returns the response. Connecting,
    /// sending and each read time out after `timeoutSeconds`.
    public static func get(_ address: ListenAddress, path: String, timeoutSeconds: Int = 5) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try getBlocking(address, path: path, timeoutSeconds: timeoutSeconds) })
            }
            thread.start()
        }
    }

    /// The blocking form of `get`, for command-line code outside Swift concurrency.
    public static func getBlocking(_ address: ListenAddress, path: String, timeoutSeconds: Int = 5) throws -> Response {
        let url = "http://\(address)\(path)"
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw MetricsServerError.requestFailed(url, "socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }

        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.socketAddress.withUnsafeBytes { bytes in
            connect(descriptor, bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(bytes.count))
        }
        guard connected == 0 else { throw MetricsServerError.requestFailed(url, "connect: \(String(cString: strerror(errno)))") }

        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes { send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw MetricsServerError.requestFailed(url, "send: \(String(cString: strerror(errno)))") }
            sent += count
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw MetricsServerError.requestFailed(url, "recv: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            received.append(contentsOf: buffer[..<count])
            // Servers that keep the connection open despite `Connection:
            // close` end the response by its Content-Length instead.
            if let expected = completeLength(received), received.count >= expected { break }
        }
        return try parse(received, url: url)
    }

    /// The total length of a response whose headers have arrived and carry
    /// Content-Length; nil before that or without the header.
    static func completeLength(_ bytes: [UInt8]) -> Int? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4,
              let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let headers = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        for line in headers.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            guard let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else {
                return nil
            }
            return end + 4 + length
        }
        return nil
    }

    /// Splits a raw HTTP/1.x response into status code and body.
    static func parse(_ bytes: [UInt8], url: String) throws -> Response {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else {
            throw MetricsServerError.requestFailed(url, "incomplete HTTP response (\(bytes.count) bytes)")
        }
        let statusLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), let status = Int(fields[1]) else {
            throw MetricsServerError.requestFailed(url, "invalid status line \"\(statusLine)\"")
        }
        return Response(status: status, body: String(text[headerEnd.upperBound...]))
    }
}
