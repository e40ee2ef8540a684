import CProtobufC
import Glibc

/// Owns the C memory that an outgoing protobuf-c message points into while
/// it is being packed: strings, pointer arrays and nested messages. Freed
/// when the arena goes away, so an encoder builds the C message, packs it,
/// and lets the arena drop.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    /// Returns a NUL-terminated copy of `string` (strdup).
    func string(_ string: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(string)!
        allocations.append(UnsafeMutableRawPointer(copy))
        return copy
    }

    /// Returns zeroed storage for `count` values of `T` (calloc).
    func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Returns a C array of `char *` holding copies of `strings`.
    func stringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count)
        for (index, value) in strings.enumerated() { array[index] = string(value) }
        return array
    }

    /// Returns a `ProtobufCBinaryData` holding a copy of `bytes`.
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let storage = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { storage.update(from: base, count: bytes.count) }
        }
        return ProtobufCBinaryData(len: bytes.count, data: storage)
    }
}

/// Unpacks `bytes` with a generated `<message>__unpack` function, converts
/// the C message to a Swift value, and frees the C message.
///
/// Uses the type-specific generated functions rather than the generic
/// `protobuf_c_message_unpack`, because those reference the descriptor
/// symbol in C; Swift cannot take the address of an imported C constant.
func unpackMessage<Message, Value>(
    _ bytes: [UInt8],
    name: String,
    unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
    free: (UnsafeMutablePointer<Message>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void,
    convert: (UnsafeMutablePointer<Message>) throws -> Value
) throws -> Value {
    let message: UnsafeMutablePointer<Message>? = bytes.withUnsafeBufferPointer { buffer in
        // An empty body is a valid empty message; give protobuf-c a real
        // pointer anyway.
        var placeholder: UInt8 = 0
        if let base = buffer.baseAddress {
            return unpack(nil, buffer.count, base)
        }
        return withUnsafePointer(to: &placeholder) { unpack(nil, 0, $0) }
    }
    guard let message else {
        throw WireError.invalidProtobuf(message: name, length: bytes.count)
    }
    defer { free(message, nil) }
    return try convert(message)
}

/// Packs a C message with its generated `__get_packed_size` and `__pack`.
func packMessage<Message>(
    _ message: UnsafePointer<Message>,
    size: (UnsafePointer<Message>?) -> Int,
    pack: (UnsafePointer<Message>?, UnsafeMutablePointer<UInt8>?) -> Int
) -> [UInt8] {
    let length = size(message)
    guard length > 0 else { return [] }
    var out = [UInt8](repeating: 0, count: length)
    let written = out.withUnsafeMutableBufferPointer { pack(message, $0.baseAddress) }
    precondition(written == length, "protobuf-c packed \(written) bytes, expected \(length)")
    return out
}

/// Converts a decoded `char *` to a String; protobuf-c decodes absent
/// strings as an empty shared string, never NULL, but be defensive.
func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

func swiftStrings(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, count: Int) -> [String] {
    guard let pointer, count > 0 else { return [] }
    return (0..<count).map { swiftString(pointer[$0]) }
}

func swiftBytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let base = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: base, count: data.len))
}
