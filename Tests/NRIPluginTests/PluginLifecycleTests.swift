import Foundation
import Testing
import NRIPlugin
import NRIRuntimeSim
import NRIWire

/// The plugin host driven end to end by the runtime simulator over a real
/// unix socket.
@Suite(.serialized) struct PluginLifecycleTests {
    @Test(arguments: [EventStyle.stateChange, .dedicated, .automatic])
    func podEventsReachHandler(style: EventStyle) async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, task) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }

        var options = RuntimeOptions()
        options.eventStyle = style
        let connection = try await runtime.acceptPlugin(options: options, pods: [samplePod("existing")])
        #expect(connection.registration?.pluginName == "hydra")
        #expect(connection.registration?.pluginIndex == "50")
        // RUN, STOP and REMOVE_POD_SANDBOX: bits 0, 1 and 2.
        #expect(connection.configureResponse?.events == 7)

        let pod = samplePod("a")
        #expect(await connection.runPodSandbox(pod) == .succeeded)
        #expect(await connection.stopPodSandbox(pod) == .succeeded)
        #expect(await connection.removePodSandbox(pod) == .succeeded)
        #expect(connection.usesStateChange == (style == .stateChange))

        let seen = await handler.waitFor { $0.contains(.remove(pod.id)) }
        #expect(seen)
        #expect(handler.calls.contains(.synchronize(["sandbox-existing"])))
        #expect(handler.calls.filter { $0 != .synchronize(["sandbox-existing"]) }
                == [.run(pod.id), .stop(pod.id), .remove(pod.id)])

        host.stop()
        #expect(await task.value == .stopped)
    }

    @Test func unservedMethodsAnswerUnimplemented() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        let connection = try await runtime.acceptPlugin(options: RuntimeOptions())

        for method in ["UpdatePodSandbox", "CreateContainer", "StartContainer", "ValidateContainerAdjustment"] {
            let outcome = await connection.outcome(of: method, [])
            guard case let .failed(code, message) = outcome else {
                Issue.record("\(method): expected Unimplemented, got \(outcome)")
                continue
            }
            #expect(code == 12, "\(method)")
            #expect(message.contains(method))
        }
        // The connection stays usable afterwards.
        #expect(await connection.runPodSandbox(samplePod("after")) == .succeeded)
    }

    @Test func synchronizeInSeveralParts() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }

        var options = RuntimeOptions()
        options.synchronizePartSize = 2
        let pods = (1...5).map { samplePod("p\($0)") }
        let connection = try await runtime.acceptPlugin(options: options, pods: pods)
        #expect(connection.synchronizeAnswers == [true, true, false])
        let synchronized = await handler.waitFor { $0.contains(.synchronize(pods.map(\.id))) }
        #expect(synchronized)
        #expect(host.state == .synchronized)
    }

    @Test func configStringReachesHandler() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        var options = RuntimeOptions()
        options.pluginConfig = #"{"stateDir":"/tmp/x"}"#
        _ = try await runtime.acceptPlugin(options: options)
        #expect(handler.calls.first == .configure(#"{"stateDir":"/tmp/x"}"#))
    }

    @Test func missingTimeoutsDefaultToTwoSeconds() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        var options = RuntimeOptions()
        options.announceTimeouts = false
        options.requestTimeout = .seconds(5)
        let connection = try await runtime.acceptPlugin(options: options)
        #expect(host.requestTimeout == .seconds(2))

        // With the 2 s default, a 2.5 s attach is answered as failed before
        // the simulator's own 5 s limit.
        handler.runDelay = .milliseconds(2500)
        let outcome = await connection.runPodSandbox(samplePod("slow"))
        guard case let .failed(code, _) = outcome else {
            Issue.record("expected a deadline failure, got \(outcome)")
            return
        }
        #expect(code == 4)
    }

    @Test func slowHandlerAnsweredBeforeDeadline() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        handler.runDelay = .milliseconds(1500)
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        var options = RuntimeOptions()
        options.requestTimeout = .seconds(1)
        let connection = try await runtime.acceptPlugin(options: options)

        let started = ContinuousClock.now
        let outcome = await connection.runPodSandbox(samplePod("slow"))
        let elapsed = ContinuousClock.now - started
        guard case let .failed(code, message) = outcome else {
            Issue.record("expected an error answer, got \(outcome)")
            return
        }
        #expect(code == 4)
        #expect(message.contains("did not finish"))
        #expect(elapsed < .seconds(1))
        #expect(!connection.isClosed)

        // The attach finishes later and is handed back for undoing.
        let abandoned = await handler.waitFor { $0.contains(.abandoned("sandbox-slow")) }
        #expect(abandoned)

        // A slow stop is answered with success at the deadline.
        #expect(await connection.stopPodSandbox(samplePod("slow")) == .succeeded)
    }

    @Test func handlerErrorFailsSandbox() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        handler.runError = "network \"red\" not found"
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        let connection = try await runtime.acceptPlugin(options: RuntimeOptions())
        let outcome = await connection.runPodSandbox(samplePod("bad"))
        #expect(outcome == .failed(code: 2, message: "hydra: network \"red\" not found"))
    }

    @Test func rejectedConfigFailsConfigure() async throws {
        let path = temporarySocketPath()
        let runtime = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        handler.configureError = "networks[0].name: missing"
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }
        var options = RuntimeOptions()
        options.pluginConfig = "{}"
        await #expect(throws: WireError.self) {
            _ = try await runtime.acceptPlugin(options: options)
        }
    }

    @Test func reconnectsAfterRuntimeRestart() async throws {
        let path = temporarySocketPath()
        var runtime: RuntimeSimulator? = try RuntimeSimulator(socketPath: path)
        let handler = RecordingHandler()
        let (host, _) = startPlugin(socketPath: path, handler: handler)
        defer { host.stop() }

        let first = try await runtime!.acceptPlugin(options: RuntimeOptions(), pods: [samplePod("one")])
        #expect(await first.runPodSandbox(samplePod("a")) == .succeeded)

        // The runtime goes away in the middle of the connection and comes
        // back on the same path.
        first.close()
        runtime = nil
        try await Task.sleep(for: .milliseconds(200))
        runtime = try RuntimeSimulator(socketPath: path)

        let second = try await runtime!.acceptPlugin(options: RuntimeOptions(), pods: [samplePod("one"), samplePod("a")])
        #expect(second.registration?.pluginName == "hydra")
        #expect(await second.runPodSandbox(samplePod("b")) == .succeeded)
        let resynchronized = await handler.waitFor { $0.contains(.synchronize(["sandbox-one", "sandbox-a"])) }
        #expect(resynchronized)
        #expect(host.reconnects >= 1)
    }

    @Test func preconnectedSocketExitsOnClose() async throws {
        let (pluginSide, runtimeSide) = try UnixSocket.pair()
        var options = PluginOptions()
        try options.applyRuntimeLaunchEnvironment(["NRI_PLUGIN_SOCKET": "\(pluginSide)",
                                                   "NRI_PLUGIN_NAME": "hydra", "NRI_PLUGIN_IDX": "07"])
        #expect(options.pluginIndex == "07")
        let handler = RecordingHandler()
        let host = PluginHost(options: options, handler: handler)
        let task = Task { await host.run() }

        let connection = try await RuntimeSimulator.handshake(fd: runtimeSide, options: RuntimeOptions())
        #expect(connection.registration?.pluginIndex == "07")
        connection.close()
        #expect(await task.value == .preconnectedSocketClosed)
    }

    @Test func invalidOptionsRejectedBeforeConnecting() async {
        for (name, index) in [("hydra", "5"), ("hydra", "abc"), ("", "50"), ("hy dra", "50"), ("hydra", "100")] {
            let host = PluginHost(options: PluginOptions(socketPath: "/nonexistent/nri.sock", pluginName: name,
                                                         pluginIndex: index),
                                  handler: RecordingHandler())
            let exit = await host.run()
            guard case .invalidOptions = exit else {
                Issue.record("name \(name) index \(index): expected invalidOptions, got \(exit)")
                continue
            }
        }
    }
}
