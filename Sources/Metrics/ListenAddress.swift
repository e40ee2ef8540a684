import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `host:port` listen address (IPv6 as `[addr]:port`) resolved to a socket address.
public struct ListenAddress: Sendable, CustomStringConvertible {
    public let host: String
    public let port: UInt16
    /// The resolved address, as raw `sockaddr_in` or `sockaddr_in6` bytes.
    let socketAddress: [UInt8]
    let isIPv6: Bool

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `text` and resolves the host with getaddrinfo(3) (numeric
    /// addresses, or names such as `localhost` from /etc/hosts), taking the first result.
    public init(_ text: String) throws(MetricsServerError) {
        guard let colon = text.lastIndex(of: ":"),
              let port = UInt16(text[text.index(after: colon)...]) else {
            throw .invalidAddress(text, "expected host:port")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        guard !host.isEmpty else { throw .invalidAddress(text, "the host is empty") }

        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .invalidAddress(text, "cannot resolve \"\(host)\": \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let bytes = UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen))
        self.host = host
        self.port = port
        self.socketAddress = Array(bytes)
        self.isIPv6 = first.pointee.ai_family == AF_INET6
    }
}
