// libFuzzer entry for the NRI decoders: the mux frame reader, the ttrpc
// stream decoder and every protobuf message Hydra decodes. Built by
// scripts/fuzz.sh, which compiles this file into the NRIWire module.

/// Decodes `bytes` as a socket stream and every message in it as every
/// type Hydra knows. Errors are expected; crashes and hangs are bugs.
func fuzzOneInput(_ bytes: [UInt8]) {
    var mux = MuxDecoder()
    var streams: [UInt32: TTRPCStreamDecoder] = [1: TTRPCStreamDecoder(), 2: TTRPCStreamDecoder()]
    guard let frames = try? mux.feed(bytes) else { return }
    for frame in frames {
        guard let messages = try? streams[frame.connection]!.feed(frame.payload) else { return }
        for message in messages {
            if let request = try? TTRPCRequest(decoding: message.body) {
                decodeAll(request.payload)
            }
            if let response = try? TTRPCResponse(decoding: message.body) {
                decodeAll(response.payload)
            }
            decodeAll(message.body)
        }
    }
}

private func decodeAll(_ payload: [UInt8]) {
    _ = try? RegisterPluginRequest(decoding: payload)
    _ = try? ConfigureRequest(decoding: payload)
    _ = try? ConfigureResponse(decoding: payload)
    _ = try? SynchronizeRequest(decoding: payload)
    _ = try? SynchronizeResponse(decoding: payload)
    _ = try? PodSandboxRequest(decoding: payload)
    _ = try? StateChangeEvent(decoding: payload)
    // Whatever decodes must encode again.
    if let sync = try? SynchronizeRequest(decoding: payload) { _ = sync.encoded() }
    if let event = try? StateChangeEvent(decoding: payload) { _ = event.encoded() }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    fuzzOneInput(bytes)
    return 0
}
