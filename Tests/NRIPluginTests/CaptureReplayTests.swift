import Foundation
import Testing
import HydraLog
import NRIPlugin
import NRIWire

/// Replays each recorded runtime stream against Hydra's plugin host and
/// compares Hydra's answers with the reference plugin's.
@Suite(.serialized) struct CaptureReplayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("NRIWireTests/Fixtures/nri-wire")

    static let folders = [
        "v0.6.1-runtime--v0.6.1-plugin", "v0.8.0-runtime--v0.8.0-plugin", "v0.12.2-runtime--v0.12.2-plugin",
        "v0.12.2-runtime--v0.8.0-plugin", "v0.8.0-runtime--v0.12.2-plugin", "large-sync--v0.12.2",
        "plugin-error--v0.12.2", "plugin-error--v0.8.0", "load5--v0.12.2", "restart--v0.12.2",
        "plugin-timeout--v0.12.2",
    ]

    static func messages(_ folder: String, _ file: String) throws -> [(UInt32, TTRPCFrame)] {
        let bytes = Array(try Data(contentsOf: fixtures.appendingPathComponent(folder).appendingPathComponent(file)))
        var mux = MuxDecoder()
        var streams: [UInt32: TTRPCStreamDecoder] = [1: TTRPCStreamDecoder(), 2: TTRPCStreamDecoder()]
        var out: [(UInt32, TTRPCFrame)] = []
        for frame in try mux.feed(bytes) {
            for message in try streams[frame.connection]!.feed(frame.payload) { out.append((frame.connection, message)) }
        }
        return out
    }

    @Test(arguments: folders)
    func replayMatchesReference(folder: String) async throws {
        let runtimeMessages = try Self.messages(folder, "conn1.runtime-to-plugin.bin")
        let reference = try Self.messages(folder, "conn1.plugin-to-runtime.bin")

        let handler = RecordingHandler()
        if folder.hasPrefix("plugin-error") { handler.runError = "injected failure for runpodsandbox" }
        if folder.hasPrefix("plugin-timeout") { handler.runDelay = .seconds(3) }

        let (pluginSide, runtimeSide) = try UnixSocket.pair()
        let peer = RawPeer(fd: runtimeSide)
        var options = PluginOptions()
        options.preconnectedDescriptor = pluginSide
        let host = PluginHost(options: options, handler: handler, logger: Logger(component: "replay"))
        let task = Task { await host.run() }
        defer { host.stop() }

        var answers: [(UInt32, TTRPCFrame)] = []
        for (connection, message) in runtimeMessages {
            if message.type == TTRPC.MessageType.response.rawValue {
                // The runtime's answer to RegisterPlugin: wait for the request first.
                let register = try #require(await peer.next())
                answers.append(register)
                #expect(register.connection == 2)
                #expect(try TTRPCRequest(decoding: register.message.body).method == "RegisterPlugin")
                try peer.send(message, on: connection)
                continue
            }
            let sent = ContinuousClock.now
            try peer.send(message, on: connection)
            let answer = try #require(await peer.next(), "no answer to stream \(message.streamID) in \(folder)")
            answers.append(answer)
            #expect(answer.message.streamID == message.streamID)
            if folder.hasPrefix("plugin-timeout"), try TTRPCRequest(decoding: message.body).method == "RunPodSandbox" {
                // The reference plugin missed the 1 s deadline and was dropped;
                // Hydra answers with an error before it.
                #expect(ContinuousClock.now - sent < .seconds(1))
                #expect(try TTRPCResponse(decoding: answer.message.body).statusCode == TTRPC.StatusCode.deadlineExceeded)
                break
            }
        }
        host.stop()
        _ = await task.value

        if folder.hasPrefix("plugin-timeout") { return }
        #expect(answers.count == reference.count)
        for ((ourConnection, ours), (theirConnection, theirs)) in zip(answers, reference) {
            #expect(ourConnection == theirConnection)
            #expect(ours.streamID == theirs.streamID)
            #expect(ours.type == theirs.type)
            guard ours.type == TTRPC.MessageType.response.rawValue else { continue }
            let our = try TTRPCResponse(decoding: ours.body)
            let their = try TTRPCResponse(decoding: theirs.body)
            if their.statusCode == TTRPC.StatusCode.unimplemented {
                // The v0.8.0 reference plugin lacks the dedicated pod methods;
                // Hydra serves them.
                #expect(our.statusCode == TTRPC.StatusCode.ok)
                continue
            }
            #expect(our.statusCode == their.statusCode)
            if their.statusCode == TTRPC.StatusCode.ok {
                // Same content, same bytes.
                #expect(ours.body == theirs.body, "stream \(ours.streamID) in \(folder)")
            } else {
                #expect(our.statusMessage.contains("injected failure for runpodsandbox"))
            }
        }
    }
}
