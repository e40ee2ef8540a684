/// The NRI multiplexer: one stream socket carries several logical
/// connections. Every frame is an 8-byte header (big-endian uint32
/// connection id, big-endian uint32 payload length) followed by the payload.
/// A frame boundary means nothing to the connection's byte stream: one ttrpc
/// message may span many frames and one frame may end one message and start
/// the next, so each connection's payloads are appended to its own buffer.
public enum Mux {
    /// Connection carrying the Plugin service (the runtime calls the plugin).
    public static let pluginServiceConnection: UInt32 = 1
    /// Connection carrying the Runtime service (the plugin calls the runtime).
    public static let runtimeServiceConnection: UInt32 = 2

    public static let headerLength = 8

    /// Largest payload Hydra puts in one outgoing frame. The reference
    /// sender writes through a 4096-byte buffer; any size works for readers.
    public static let maxOutgoingFramePayload = 16 * 1024

    /// Largest frame payload accepted from the peer: a whole ttrpc message
    /// (header plus the 4 MiB body limit) fits in one frame.
    public static let maxIncomingFramePayload: UInt32 = UInt32(TTRPC.maxMessageLength + TTRPC.headerLength)

    /// Encodes `payload` for `connection` as one or more frames.
    public static func encode(connection: UInt32, payload: [UInt8],
                              maxFramePayload: Int = maxOutgoingFramePayload) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + headerLength * (payload.count / maxFramePayload + 1))
        var offset = 0
        repeat {
            let end = min(offset + maxFramePayload, payload.count)
            appendBigEndian(connection, to: &out)
            appendBigEndian(UInt32(end - offset), to: &out)
            out.append(contentsOf: payload[offset..<end])
            offset = end
        } while offset < payload.count
        return out
    }
}

/// Splits the socket's byte stream into mux frames and hands each frame's
/// payload to its connection. Feed it bytes in whatever pieces `read` returns.
public struct MuxDecoder {
    private var buffer: [UInt8] = []
    private var start = 0
    private let knownConnections: Set<UInt32>
    private let maxFramePayload: UInt32

    public init(knownConnections: Set<UInt32> = [Mux.pluginServiceConnection, Mux.runtimeServiceConnection],
                maxFramePayload: UInt32 = Mux.maxIncomingFramePayload) {
        self.knownConnections = knownConnections
        self.maxFramePayload = maxFramePayload
    }

    /// Bytes received but not yet part of a whole frame.
    public var pendingByteCount: Int { buffer.count - start }

    /// Appends received bytes and returns every frame they complete, in
    /// order. Throws on an oversized frame or an unknown connection id; the
    /// stream cannot be trusted after that.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws -> [(connection: UInt32, payload: ArraySlice<UInt8>)] {
        buffer.append(contentsOf: bytes)
        var frames: [(connection: UInt32, payload: ArraySlice<UInt8>)] = []
        while buffer.count - start >= Mux.headerLength {
            let connection = readBigEndian(buffer, at: start)
            let length = readBigEndian(buffer, at: start + 4)
            guard knownConnections.contains(connection) else {
                throw WireError.unknownConnection(connection)
            }
            guard length <= maxFramePayload else {
                throw WireError.frameTooLarge(connection: connection, length: length, limit: maxFramePayload)
            }
            let frameEnd = start + Mux.headerLength + Int(length)
            guard buffer.count >= frameEnd else { break }
            frames.append((connection, buffer[(start + Mux.headerLength)..<frameEnd]))
            start = frameEnd
        }
        compact()
        return frames
    }

    public mutating func feed(_ bytes: [UInt8]) throws -> [(connection: UInt32, payload: ArraySlice<UInt8>)] {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    /// Throws if the stream ended in the middle of a frame.
    public func finish() throws {
        if pendingByteCount > 0 {
            throw WireError.truncated("a mux frame (\(pendingByteCount) bytes pending)")
        }
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    bytes.append(UInt8(truncatingIfNeeded: value >> 16))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value))
}

func readBigEndian<C: RandomAccessCollection>(_ bytes: C, at offset: C.Index) -> UInt32 where C.Element == UInt8, C.Index == Int {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}
