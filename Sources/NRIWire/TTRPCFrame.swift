/// ttrpc message framing: a 10-byte header (big-endian uint32 body length,
/// big-endian uint32 stream id, uint8 type, uint8 flags) and a protobuf body.
public enum TTRPC {
    public static let headerLength = 10
    /// ttrpc's default maximum body size, 4 MiB.
    public static let maxMessageLength = 4 << 20

    /// ttrpc message types.
    public enum MessageType: UInt8, Sendable {
        case request = 1
        case response = 2
        /// Streaming data; NRI does not use streams.
        case data = 3
    }

    /// ttrpc (gRPC) status codes Hydra sends or interprets.
    public enum StatusCode {
        public static let ok: Int32 = 0
        public static let unknown: Int32 = 2
        public static let invalidArgument: Int32 = 3
        public static let deadlineExceeded: Int32 = 4
        public static let notFound: Int32 = 5
        public static let unimplemented: Int32 = 12
        public static let `internal`: Int32 = 13
        public static let unavailable: Int32 = 14
    }
}

/// One ttrpc message as it travels inside a mux connection.
public struct TTRPCFrame: Sendable, Equatable {
    public var streamID: UInt32
    /// The raw type byte; see `TTRPC.MessageType` for the known values.
    public var type: UInt8
    public var flags: UInt8
    public var body: [UInt8]

    public init(streamID: UInt32, type: TTRPC.MessageType, flags: UInt8 = 0, body: [UInt8]) {
        self.streamID = streamID
        self.type = type.rawValue
        self.flags = flags
        self.body = body
    }

    public init(streamID: UInt32, rawType: UInt8, flags: UInt8, body: [UInt8]) {
        self.streamID = streamID
        self.type = rawType
        self.flags = flags
        self.body = body
    }

    /// Encodes header and body. Throws when the body exceeds the 4 MiB limit.
    public func encoded() throws -> [UInt8] {
        guard body.count <= TTRPC.maxMessageLength else {
            throw WireError.messageTooLarge(stream: streamID, length: UInt32(clamping: body.count),
                                            limit: UInt32(TTRPC.maxMessageLength))
        }
        var out: [UInt8] = []
        out.reserveCapacity(TTRPC.headerLength + body.count)
        appendBigEndian(UInt32(body.count), to: &out)
        appendBigEndian(streamID, to: &out)
        out.append(type)
        out.append(flags)
        out.append(contentsOf: body)
        return out
    }
}

/// Reassembles one mux connection's byte stream into ttrpc messages.
public struct TTRPCStreamDecoder {
    private var buffer: [UInt8] = []
    private var start = 0
    private let maxMessageLength: Int

    public init(maxMessageLength: Int = TTRPC.maxMessageLength) {
        self.maxMessageLength = maxMessageLength
    }

    public var pendingByteCount: Int { buffer.count - start }

    /// Appends a frame's payload and returns every message it completes.
    /// Throws when a header announces a body over the limit; the connection
    /// cannot be trusted after that.
    public mutating func feed<C: Collection>(_ bytes: C) throws -> [TTRPCFrame] where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        var messages: [TTRPCFrame] = []
        while buffer.count - start >= TTRPC.headerLength {
            let length = readBigEndian(buffer, at: start)
            let streamID = readBigEndian(buffer, at: start + 4)
            guard Int(length) <= maxMessageLength else {
                throw WireError.messageTooLarge(stream: streamID, length: length, limit: UInt32(maxMessageLength))
            }
            let end = start + TTRPC.headerLength + Int(length)
            guard buffer.count >= end else { break }
            messages.append(TTRPCFrame(streamID: streamID, rawType: buffer[start + 8], flags: buffer[start + 9],
                                       body: Array(buffer[(start + TTRPC.headerLength)..<end])))
            start = end
        }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
        return messages
    }

    /// Throws if the stream ended inside a message.
    public func finish() throws {
        if pendingByteCount > 0 {
            throw WireError.truncated("a ttrpc message (\(pendingByteCount) bytes pending)")
        }
    }
}
