import Foundation
import Testing
import HydraLog
import NRIPlugin
import NRIWire

/// A runtime that sends malformed input: the plugin logs it, never crashes
/// or hangs, and closes the connection where the stream cannot be trusted.
@Suite struct HostilePeerTests {
    /// Starts a plugin on a socketpair and returns the runtime's raw end
    /// after consuming RegisterPlugin and answering it.
    private func registeredPlugin() async throws -> (PluginHost, RawPeer, Task<PluginExit, Never>) {
        let (pluginSide, runtimeSide) = try UnixSocket.pair()
        var options = PluginOptions()
        options.preconnectedDescriptor = pluginSide
        let host = PluginHost(options: options, handler: RecordingHandler(), logger: Logger(component: "hostile"))
        let task = Task { await host.run() }
        let peer = RawPeer(fd: runtimeSide)
        let register = try #require(await peer.next())
        try peer.send(TTRPCFrame(streamID: register.message.streamID, type: .response, body: []), on: 2)
        return (host, peer, task)
    }

    private func request(_ method: String, stream: UInt32, payload: [UInt8] = [],
                         service: String = NRIService.plugin) -> TTRPCFrame {
        TTRPCFrame(streamID: stream, type: .request,
                   body: TTRPCRequest(service: service, method: method, payload: payload,
                                      timeoutNano: 2_000_000_000).encoded())
    }

    /// Inputs after which the byte stream cannot be trusted: the plugin
    /// must close the socket.
    static let fatalInputs: [(String, [UInt8])] = [
        ("oversized mux frame", [0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]),
        ("unknown connection id", [0, 0, 0, 9, 0, 0, 0, 1, 0]),
        ("oversized ttrpc message", [0, 0, 0, 1, 0, 0, 0, 10, 0x01, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
    ]

    @Test(arguments: fatalInputs.map(\.0))
    func fatalInputClosesConnection(_ name: String) async throws {
        let bytes = Self.fatalInputs.first { $0.0 == name }!.1
        let (host, peer, task) = try await registeredPlugin()
        defer { host.stop() }
        peer.write(bytes)
        #expect(await peer.waitForClose())
        // A handed-over socket cannot be reopened: the plugin exits cleanly.
        #expect(await task.value == .preconnectedSocketClosed)
    }

    @Test func truncatedFrameThenCloseEndsCleanly() async throws {
        let (host, peer, task) = try await registeredPlugin()
        defer { host.stop() }
        // Half a mux header, then the runtime goes away.
        peer.write([0, 0, 0, 1])
        shutdown(peer.fd, Int32(SHUT_WR))
        #expect(await task.value == .preconnectedSocketClosed)
    }

    @Test func recoverableInputsKeepConnection() async throws {
        let (host, peer, _) = try await registeredPlugin()
        defer { host.stop() }

        // ttrpc data message (type 3) and an unknown type: logged, skipped.
        try peer.send(TTRPCFrame(streamID: 1, rawType: 3, flags: 0, body: [1, 2, 3]), on: 1)
        try peer.send(TTRPCFrame(streamID: 3, rawType: 9, flags: 0, body: []), on: 1)

        // A request envelope that is not protobuf.
        try peer.send(TTRPCFrame(streamID: 5, type: .request, body: [0xff, 0xff, 0xff, 0xff]), on: 1)
        let garbageEnvelope = try #require(await peer.next())
        #expect(garbageEnvelope.message.streamID == 5)
        #expect(try TTRPCResponse(decoding: garbageEnvelope.message.body).statusCode == TTRPC.StatusCode.invalidArgument)

        // A valid envelope whose payload is garbage.
        try peer.send(request("RunPodSandbox", stream: 7, payload: [0x0a, 0xff, 0x01]), on: 1)
        let garbagePayload = try #require(await peer.next())
        #expect(garbagePayload.message.streamID == 7)
        let rejected = try TTRPCResponse(decoding: garbagePayload.message.body)
        #expect(rejected.statusCode == TTRPC.StatusCode.invalidArgument)
        #expect(rejected.statusMessage.contains("RunPodSandbox"))

        // A request for an unknown service.
        try peer.send(request("Frobnicate", stream: 9, service: "example.Unknown"), on: 1)
        let unknown = try #require(await peer.next())
        #expect(try TTRPCResponse(decoding: unknown.message.body).statusCode == TTRPC.StatusCode.unimplemented)

        // The connection still serves real requests.
        let configure = ConfigureRequest(runtimeName: "hostile", requestTimeoutMilliseconds: 2000)
        try peer.send(request("Configure", stream: 11, payload: configure.encoded()), on: 1)
        let answer = try #require(await peer.next())
        #expect(answer.message.streamID == 11)
        #expect(try ConfigureResponse(decoding: TTRPCResponse(decoding: answer.message.body).payload).events == 7)
    }

    @Test func splitAcrossManyFrames() async throws {
        let (host, peer, _) = try await registeredPlugin()
        defer { host.stop() }
        // One Configure request cut into 3-byte mux frames, and the next
        // request starting inside the last frame of the first.
        let first = try request("Configure", stream: 1,
                                payload: ConfigureRequest(requestTimeoutMilliseconds: 2000).encoded()).encoded()
        let second = try request("Synchronize", stream: 3, payload: SynchronizeRequest(pods: []).encoded()).encoded()
        peer.write(Mux.encode(connection: 1, payload: first + second, maxFramePayload: 3))
        let one = try #require(await peer.next())
        let two = try #require(await peer.next())
        #expect(one.message.streamID == 1)
        #expect(two.message.streamID == 3)
    }
}
