import Foundation
@testable import NRIWire

/// One ttrpc message as the capture's `.txt` file describes it.
struct ExpectedMessage {
    var connection: UInt32
    var streamID: UInt32
    var type: UInt8
    /// `Service/Method` for requests, the method answered for responses.
    var method: String
    var statusLine: String
    var payloadType: String
    var payloadJSON: Any?
}

/// A recorded exchange under Fixtures/nri-wire.
struct Capture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/nri-wire")

    static var all: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasSuffix(".md") }.sorted()
    }

    let folder: String

    /// The `connK.` prefixes present in the folder.
    var connections: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Capture.root.appendingPathComponent(folder).path)) ?? []
        return Set(names.compactMap { $0.split(separator: ".").first.map(String.init) }).sorted()
    }

    func bytes(_ connection: String, _ direction: String) throws -> [UInt8] {
        let url = Capture.root.appendingPathComponent(folder).appendingPathComponent("\(connection).\(direction).bin")
        return Array(try Data(contentsOf: url))
    }

    func expected(_ connection: String, _ direction: String) throws -> [ExpectedMessage] {
        let url = Capture.root.appendingPathComponent(folder).appendingPathComponent("\(connection).\(direction).txt")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var messages: [ExpectedMessage] = []
        var muxConnection: UInt32 = 0
        for raw in lines {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("frame #") {
                muxConnection = UInt32(field(line, "conn_id") ?? "0") ?? 0
            } else if line.hasPrefix("ttrpc length=") {
                let typeField = field(line, "type") ?? "0"
                let type = UInt8(typeField.prefix(while: { $0.isNumber })) ?? 0
                messages.append(ExpectedMessage(connection: muxConnection, streamID: UInt32(field(line, "stream_id") ?? "0") ?? 0,
                                                type: type, method: "", statusLine: "", payloadType: "", payloadJSON: nil))
            } else if line.hasPrefix("Request service="), !messages.isEmpty {
                messages[messages.count - 1].method = "\(field(line, "service") ?? "")/\(field(line, "method") ?? "")"
            } else if line.hasPrefix("Response to "), !messages.isEmpty {
                let rest = line.dropFirst("Response to ".count)
                messages[messages.count - 1].method = String(rest.prefix(while: { $0 != " " }))
                messages[messages.count - 1].statusLine = String(rest)
            } else if line.hasPrefix("payload "), !messages.isEmpty, let colon = line.firstIndex(of: ":") {
                let type = line[line.index(line.startIndex, offsetBy: 8)..<colon]
                let json = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                messages[messages.count - 1].payloadType = String(type)
                messages[messages.count - 1].payloadJSON = try? JSONSerialization.jsonObject(with: Data(json.utf8),
                                                                                              options: [.fragmentsAllowed])
            }
        }
        return messages
    }

    private func field(_ line: String, _ name: String) -> String? {
        guard let range = line.range(of: name + "=") else { return nil }
        return String(line[range.upperBound...].prefix(while: { $0 != " " }))
    }
}

/// Decodes a whole byte stream into (connection, ttrpc message) pairs in
/// arrival order.
func decodeStream(_ bytes: [UInt8], chunkSize: Int = .max) throws -> [(UInt32, TTRPCFrame)] {
    var mux = MuxDecoder()
    var streams: [UInt32: TTRPCStreamDecoder] = [1: TTRPCStreamDecoder(), 2: TTRPCStreamDecoder()]
    var out: [(UInt32, TTRPCFrame)] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunkSize)
        for frame in try mux.feed(Array(bytes[offset..<end])) {
            for message in try streams[frame.connection]!.feed(frame.payload) {
                out.append((frame.connection, message))
            }
        }
        offset = end
    }
    try mux.finish()
    for decoder in streams.values { try decoder.finish() }
    return out
}

extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String { self[key] as? String ?? "" }
}
