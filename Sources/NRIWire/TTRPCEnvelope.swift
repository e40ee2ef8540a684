import CProtobufC
import NRIProto

/// A ttrpc request envelope.
public struct TTRPCRequest: Sendable, Equatable {
    public var service: String
    public var method: String
    public var payload: [UInt8]
    /// The caller's deadline as a duration in nanoseconds; 0 means none.
    public var timeoutNano: Int64
    public var metadata: [(key: String, value: String)]

    public init(service: String, method: String, payload: [UInt8], timeoutNano: Int64 = 0,
                metadata: [(key: String, value: String)] = []) {
        self.service = service
        self.method = method
        self.payload = payload
        self.timeoutNano = timeoutNano
        self.metadata = metadata
    }

    public static func == (lhs: TTRPCRequest, rhs: TTRPCRequest) -> Bool {
        lhs.service == rhs.service && lhs.method == rhs.method && lhs.payload == rhs.payload
            && lhs.timeoutNano == rhs.timeoutNano
            && lhs.metadata.map(\.key) == rhs.metadata.map(\.key)
            && lhs.metadata.map(\.value) == rhs.metadata.map(\.value)
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "ttrpc.Request",
                                 unpack: ttrpc__request__unpack, free: ttrpc__request__free_unpacked) { message in
            let request = message.pointee
            var metadata: [(key: String, value: String)] = []
            for index in 0..<request.n_metadata {
                if let entry = request.metadata[index] {
                    metadata.append((swiftString(entry.pointee.key), swiftString(entry.pointee.value)))
                }
            }
            return TTRPCRequest(service: swiftString(request.service), method: swiftString(request.method),
                                payload: swiftBytes(request.payload), timeoutNano: request.timeout_nano,
                                metadata: metadata)
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Ttrpc__Request()
        ttrpc__request__init(&message)
        message.service = arena.string(service)
        message.method = arena.string(method)
        message.payload = arena.binary(payload)
        message.timeout_nano = timeoutNano
        if !metadata.isEmpty {
            let entries = arena.allocate(UnsafeMutablePointer<Ttrpc__KeyValue>?.self, count: metadata.count)
            for (index, pair) in metadata.enumerated() {
                let entry = arena.allocate(Ttrpc__KeyValue.self)
                ttrpc__key_value__init(entry)
                entry.pointee.key = arena.string(pair.key)
                entry.pointee.value = arena.string(pair.value)
                entries[index] = entry
            }
            message.n_metadata = metadata.count
            message.metadata = entries
        }
        return withUnsafePointer(to: &message) {
            packMessage($0, size: ttrpc__request__get_packed_size, pack: ttrpc__request__pack)
        }
    }
}

/// A ttrpc response envelope: a google.rpc.Status and the payload.
public struct TTRPCResponse: Sendable, Equatable {
    public var statusCode: Int32
    public var statusMessage: String
    public var payload: [UInt8]

    public init(statusCode: Int32 = TTRPC.StatusCode.ok, statusMessage: String = "", payload: [UInt8] = []) {
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.payload = payload
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "ttrpc.Response",
                                 unpack: ttrpc__response__unpack, free: ttrpc__response__free_unpacked) { message in
            let response = message.pointee
            var code = TTRPC.StatusCode.ok
            var text = ""
            if let status = response.status {
                code = status.pointee.code
                text = swiftString(status.pointee.message)
            }
            return TTRPCResponse(statusCode: code, statusMessage: text, payload: swiftBytes(response.payload))
        }
    }

    /// Encodes like the Go ttrpc server: the status is left out for OK, so an
    /// OK response with an empty payload is an empty body.
    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Ttrpc__Response()
        ttrpc__response__init(&message)
        message.payload = arena.binary(payload)
        if statusCode != TTRPC.StatusCode.ok || !statusMessage.isEmpty {
            let status = arena.allocate(Ttrpc__Status.self)
            ttrpc__status__init(status)
            status.pointee.code = statusCode
            if !statusMessage.isEmpty { status.pointee.message = arena.string(statusMessage) }
            message.status = status
        }
        return withUnsafePointer(to: &message) {
            packMessage($0, size: ttrpc__response__get_packed_size, pack: ttrpc__response__pack)
        }
    }
}
