/// A violation of the NRI wire protocol, or a failure of the socket under it.
/// Each case carries the value that was wrong, so a log line can name it.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// A mux frame announced more payload than the frame limit allows.
    case frameTooLarge(connection: UInt32, length: UInt32, limit: UInt32)
    /// A mux frame arrived for a connection id that is not in use.
    case unknownConnection(UInt32)
    /// The stream ended inside a mux frame or a ttrpc message.
    case truncated(String)
    /// A ttrpc message announced a body over the 4 MiB limit.
    case messageTooLarge(stream: UInt32, length: UInt32, limit: UInt32)
    /// A protobuf body did not decode as the expected message.
    case invalidProtobuf(message: String, length: Int)
    /// A message could not be encoded (for example over the size limit).
    case encodingFailed(String)
    /// The socket was closed, by the peer or locally.
    case closed
    /// A system call on the socket failed.
    case system(call: String, errno: Int32)
    /// A call got no response before its deadline.
    case timedOut(method: String)
    /// The peer answered a call with a non-OK ttrpc status.
    case status(code: Int32, message: String)

    public var description: String {
        switch self {
        case let .frameTooLarge(connection, length, limit):
            return "mux frame on connection \(connection) announces \(length) bytes, over the limit of \(limit)"
        case let .unknownConnection(id):
            return "mux frame for unknown connection id \(id)"
        case let .truncated(what):
            return "stream ended inside \(what)"
        case let .messageTooLarge(stream, length, limit):
            return "ttrpc message on stream \(stream) announces \(length) bytes, over the limit of \(limit)"
        case let .invalidProtobuf(message, length):
            return "invalid protobuf: \(length) bytes do not decode as \(message)"
        case let .encodingFailed(what):
            return "failed to encode \(what)"
        case .closed:
            return "connection closed"
        case let .system(call, errno):
            return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case let .timedOut(method):
            return "\(method) timed out"
        case let .status(code, message):
            return "call failed with status \(code): \(message)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
