import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP/1.1 request.
public struct HTTPServerRequest: Sendable {
    public var method: String
    /// The path without the query, percent-decoded.
    public var path: String
    /// The raw query string without `?`.
    public var rawQuery: String
    /// Query parameters, percent-decoded; a repeated key keeps its last value.
    public var query: [String: String]
    /// Header fields with lowercased names.
    public var headers: [String: String]
    public var body: Data
}

/// Writes the chunks of a streamed response.
public final class ChunkWriter: @unchecked Sendable {
    private let socket: Int32

    init(socket: Int32) {
        self.socket = socket
    }

    /// Sends `data` as one chunk; returns false once the peer is gone.
    public func write(_ data: Data) -> Bool {
        guard !data.isEmpty else { return true }
        var frame = Data(String(data.count, radix: 16).utf8)
        frame.append(contentsOf: [13, 10])
        frame.append(data)
        frame.append(contentsOf: [13, 10])
        return HTTPServer.sendAll(socket, frame)
    }

    /// True while the peer has not closed the connection.
    public var isPeerConnected: Bool {
        var pollDescriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pollDescriptor, 1, 0)
        guard ready > 0 else { return ready == 0 }
        // Readable on an idle connection means end of file or an error.
        var byte: UInt8 = 0
        return recv(socket, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) > 0
    }
}

/// The reply of a request handler.
public enum HTTPServerReply: Sendable {
    /// A complete response with `Content-Length`.
    case response(status: Int, contentType: String, body: Data)
    /// A chunked response whose body `produce` writes; the connection closes
    /// when it returns.
    case stream(status: Int, contentType: String, produce: @Sendable (ChunkWriter) -> Void)
    /// Close the connection without a response, as a crashed server would.
    case closeConnection
}

/// A small HTTP/1.1 server over POSIX sockets with one thread per
/// connection. It supports keep-alive and `Content-Length` request bodies,
/// which is what libcurl sends; chunked request bodies are rejected with 411.
public final class HTTPServer: @unchecked Sendable {
    /// Largest accepted request head and body, to bound memory per connection.
    static let maxHeaderBytes = 64 * 1024
    static let maxBodyBytes = 8 * 1024 * 1024

    private let host: String
    private let handler: @Sendable (HTTPServerRequest) -> HTTPServerReply
    private let lock = NSLock()
    private var listenSocket: Int32 = -1
    private var connections: Set<Int32> = []
    private var stopped = false
    /// The bound port, fixed after the first `start()` so a restart after
    /// `suspendListening()` reuses it.
    public private(set) var port: UInt16

    /// Creates a server for `host` (an IPv4 address) and `port` (0 picks a
    /// free port at `start()`).
    public init(host: String, port: UInt16,
                handler: @escaping @Sendable (HTTPServerRequest) -> HTTPServerReply) {
        self.host = host
        self.port = port
        self.handler = handler
    }

    /// Binds, listens and starts the accept thread.
    public func start() throws {
        var attempts = 0
        var bound: Int32?
        while bound == nil {
            do {
                bound = try Self.bindListeningSocket(host: host, port: port)
            } catch FakeAPIServerError.addressInUse where port != 0 && attempts < 50 {
                // The previous listening socket of this port closes once its accept thread wakes up.
                attempts += 1
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        let socket = bound!
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(socket, $0, &length) }
        }
        lock.lock()
        listenSocket = socket
        port = UInt16(bigEndian: address.sin_port)
        stopped = false
        lock.unlock()

        let thread = Thread { [self] in acceptLoop(socket) }
        thread.name = "fake-apiserver-accept"
        thread.start()
    }

    /// Shuts down the listening socket and every open connection, so new
    /// connections are refused until `start()` binds the same port again.
    /// Only the threads that own the descriptors close them: closing here
    /// would let a new socket reuse the number while the old thread still
    /// calls accept or recv on it.
    public func suspendListening() {
        lock.lock()
        let socket = listenSocket
        listenSocket = -1
        let open = connections
        lock.unlock()
        if socket >= 0 {
            // shutdown wakes the thread blocked in accept, which then closes the socket.
            shutdown(socket, Int32(SHUT_RDWR))
        }
        for connection in open {
            shutdown(connection, Int32(SHUT_RDWR))
        }
    }

    /// Stops the server for good.
    public func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        suspendListening()
    }

    private static func bindListeningSocket(host: String, port: UInt16) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else {
            throw FakeAPIServerError.socket("socket() failed: \(String(cString: strerror(errno)))")
        }
        var yes: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(socket)
            throw FakeAPIServerError.socket("invalid IPv4 listen address \"\(host)\"")
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            let reason = String(cString: strerror(code))
            close(socket)
            if code == EADDRINUSE {
                throw FakeAPIServerError.addressInUse("failed to bind \(host):\(port): \(reason)")
            }
            throw FakeAPIServerError.socket("failed to bind \(host):\(port): \(reason)")
        }
        guard listen(socket, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            throw FakeAPIServerError.socket("failed to listen on \(host):\(port): \(reason)")
        }
        return socket
    }

    private func acceptLoop(_ socket: Int32) {
        defer { close(socket) }
        while true {
            // accept4 needs _GNU_SOURCE, which Glibc's module does not set.
            let connection = accept(socket, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            lock.lock()
            let current = listenSocket == socket && !stopped
            if current {
                connections.insert(connection)
            }
            lock.unlock()
            guard current else {
                // suspendListening shut the socket down, so the next accept fails.
                close(connection)
                continue
            }
            let thread = Thread { [self] in
                serve(connection)
                lock.lock()
                connections.remove(connection)
                lock.unlock()
                close(connection)
            }
            thread.name = "fake-apiserver-connection"
            thread.start()
        }
    }

    /// Reads requests from one connection until it closes.
    private func serve(_ socket: Int32) {
        var buffer = Data()
        while true {
            guard let request = readRequest(socket, buffer: &buffer) else { return }
            switch request {
            case .failure(let status, let message):
                _ = Self.sendAll(socket, Self.responseHead(status: status, contentType: "text/plain",
                                                           contentLength: message.utf8.count, close: true)
                                 + Data(message.utf8))
                return
            case .success(let parsed):
                switch handler(parsed) {
                case .closeConnection:
                    return
                case .response(let status, let contentType, let body):
                    let head = Self.responseHead(status: status, contentType: contentType,
                                                 contentLength: body.count, close: false)
                    guard Self.sendAll(socket, head + body) else { return }
                case .stream(let status, let contentType, let produce):
                    let head = Self.responseHead(status: status, contentType: contentType, contentLength: nil,
                                                 close: true)
                    guard Self.sendAll(socket, head) else { return }
                    produce(ChunkWriter(socket: socket))
                    _ = Self.sendAll(socket, Data("0\r\n\r\n".utf8))
                    return
                }
            }
        }
    }

    private enum ReadResult {
        case success(HTTPServerRequest)
        case failure(status: Int, message: String)
    }

    /// Reads one request; nil when the peer closed the connection.
    private func readRequest(_ socket: Int32, buffer: inout Data) -> ReadResult? {
        let separator = Data("\r\n\r\n".utf8)
        var headEnd: Range<Data.Index>?
        while true {
            headEnd = buffer.range(of: separator)
            if headEnd != nil { break }
            if buffer.count > Self.maxHeaderBytes {
                return .failure(status: 431, message: "request header too large")
            }
            guard Self.receive(socket, into: &buffer) else { return nil }
        }
        guard let headEnd else { return nil }

        let head = String(decoding: buffer[buffer.startIndex..<headEnd.lowerBound], as: UTF8.self)
        buffer.removeSubrange(buffer.startIndex..<headEnd.upperBound)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else {
            return .failure(status: 400, message: "invalid request line")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if headers["transfer-encoding"] != nil {
            return .failure(status: 411, message: "chunked request bodies are not supported, send Content-Length")
        }
        let length = Int(headers["content-length"] ?? "0") ?? -1
        guard length >= 0, length <= Self.maxBodyBytes else {
            return .failure(status: 413, message: "invalid or too large Content-Length")
        }
        while buffer.count < length {
            guard Self.receive(socket, into: &buffer) else { return nil }
        }
        let body = Data(buffer.prefix(length))
        buffer.removeSubrange(buffer.startIndex..<(buffer.startIndex + length))

        let target = String(requestLine[1])
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = String(parts[0])
        let rawQuery = parts.count > 1 ? String(parts[1]) : ""
        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: "&") {
            let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(keyValue[0]).removingPercentEncoding ?? String(keyValue[0])
            let value = keyValue.count > 1 ? (String(keyValue[1]).removingPercentEncoding ?? String(keyValue[1])) : ""
            query[key] = value
        }
        return .success(HTTPServerRequest(method: String(requestLine[0]),
                                          path: rawPath.removingPercentEncoding ?? rawPath,
                                          rawQuery: rawQuery, query: query, headers: headers, body: body))
    }

    private static func receive(_ socket: Int32, into buffer: inout Data) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = recv(socket, &chunk, chunk.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }

    /// Sends every byte of `data`; MSG_NOSIGNAL keeps a closed peer from
    /// raising SIGPIPE, which would end the process.
    static func sendAll(_ socket: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let sent = send(socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 && errno == EINTR { continue }
                guard sent > 0 else { return false }
                offset += sent
            }
            return true
        }
    }

    private static func responseHead(status: Int, contentType: String, contentLength: Int?, close: Bool) -> Data {
        var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\nContent-Type: \(contentType)\r\n"
        if let contentLength {
            head += "Content-Length: \(contentLength)\r\n"
        } else {
            head += "Transfer-Encoding: chunked\r\n"
        }
        if close {
            head += "Connection: close\r\n"
        }
        return Data((head + "\r\n").utf8)
    }

    private static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }
}

/// Failures of the fake API server itself.
public enum FakeAPIServerError: Error, CustomStringConvertible {
    case socket(String)
    case addressInUse(String)
    case invalidSeed(String)

    public var description: String {
        switch self {
        case .socket(let message), .addressInUse(let message): return message
        case .invalidSeed(let message): return message
        }
    }
}
