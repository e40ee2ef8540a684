import Foundation
import Testing
@testable import NRIWire

/// Every recorded exchange decodes into the messages its `.txt` shows.
@Suite struct CaptureDecodingTests {
    static let streams: [(folder: String, connection: String, direction: String)] = Capture.all.flatMap { folder in
        Capture(folder: folder).connections.flatMap { connection in
            ["runtime-to-plugin", "plugin-to-runtime"].map { (folder, connection, $0) }
        }
    }

    @Test func fixturesPresent() {
        #expect(Capture.all.count == 11)
        #expect(Self.streams.count == 24)
    }

    @Test(arguments: streams.map { "\($0.folder)/\($0.connection).\($0.direction)" })
    func captureDecodes(_ name: String) throws {
        let parts = name.split(separator: "/")
        let file = parts[1].split(separator: ".")
        let capture = Capture(folder: String(parts[0]))
        let bytes = try capture.bytes(String(file[0]), String(file[1]))
        let expected = try capture.expected(String(file[0]), String(file[1]))

        let decoded = try decodeStream(bytes)
        #expect(decoded.count == expected.count)
        // Feeding the same bytes one at a time must give the same messages.
        let byteWise = try decodeStream(bytes, chunkSize: 1)
        #expect(byteWise.map(\.1) == decoded.map(\.1))

        for (index, (connection, message)) in decoded.enumerated() where index < expected.count {
            let want = expected[index]
            #expect(connection == want.connection, "message \(index)")
            #expect(message.streamID == want.streamID, "message \(index)")
            #expect(message.type == want.type, "message \(index)")
            if message.type == TTRPC.MessageType.request.rawValue {
                try checkRequest(message, want)
            } else {
                try checkResponse(message, want)
            }
        }
    }

    private func checkRequest(_ message: TTRPCFrame, _ want: ExpectedMessage) throws {
        let request = try TTRPCRequest(decoding: message.body)
        #expect("\(request.service)/\(request.method)" == want.method)
        #expect(request.timeoutNano > 0)
        let json = want.payloadJSON as? [String: Any] ?? [:]
        switch request.method {
        case "RegisterPlugin":
            let register = try RegisterPluginRequest(decoding: request.payload)
            #expect(register.pluginName == json.string("plugin_name"))
            #expect(register.pluginIndex == json.string("plugin_idx"))
            #expect(register.nriVersion == json.string("NRI_version"))
        case "Configure":
            let configure = try ConfigureRequest(decoding: request.payload)
            #expect(configure.runtimeName == json.string("runtime_name"))
            #expect(configure.runtimeVersion == json.string("runtime_version"))
            #expect(configure.nriVersion == json.string("NRI_version"))
            #expect(configure.config == json.string("config"))
            #expect(configure.requestTimeoutMilliseconds == Int64(json.string("request_timeout")) ?? 0)
            #expect(configure.registrationTimeoutMilliseconds == Int64(json.string("registration_timeout")) ?? 0)
        case "Synchronize":
            let sync = try SynchronizeRequest(decoding: request.payload)
            let pods = json["pods"] as? [[String: Any]] ?? []
            #expect(sync.pods.count == pods.count)
            for (pod, podJSON) in zip(sync.pods, pods) { checkPod(pod, podJSON) }
            #expect(sync.containers.count == (json["containers"] as? [Any])?.count ?? 0)
            #expect(sync.more == (json["more"] as? Bool ?? false))
        case "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox":
            let podRequest = try PodSandboxRequest(decoding: request.payload)
            let pod = try #require(podRequest.pod)
            checkPod(pod, json["pod"] as? [String: Any] ?? [:])
        case "StateChange":
            let event = try StateChangeEvent(decoding: request.payload)
            let names = ["RUN_POD_SANDBOX": NRIEvent.runPodSandbox, "STOP_POD_SANDBOX": .stopPodSandbox,
                         "REMOVE_POD_SANDBOX": .removePodSandbox]
            #expect(event.event == names[json.string("event")]?.rawValue)
            let pod = try #require(event.pod)
            checkPod(pod, json["pod"] as? [String: Any] ?? [:])
        default:
            Issue.record("unexpected method \(request.method) in capture")
        }
    }

    private func checkResponse(_ message: TTRPCFrame, _ want: ExpectedMessage) throws {
        let response = try TTRPCResponse(decoding: message.body)
        if want.statusLine.contains("status=OK") {
            #expect(response.statusCode == 0)
        } else {
            // For example: status=Unknown(2) "nri-test-plugin: injected failure" payload=0B
            let code = want.statusLine.split(separator: "(").dropFirst().first?.prefix(while: { $0.isNumber })
            #expect(response.statusCode == Int32(code ?? "") ?? -1)
            #expect(want.statusLine.contains("\"\(response.statusMessage)\""))
        }
        if want.payloadType == "ConfigureResponse" {
            let configure = try ConfigureResponse(decoding: response.payload)
            let json = want.payloadJSON as? [String: Any] ?? [:]
            #expect(configure.events == (json["events"] as? Int).map(Int32.init) ?? 0)
        }
    }

    private func checkPod(_ pod: PodSandbox, _ json: [String: Any]) {
        #expect(pod.id == json.string("id"))
        #expect(pod.name == json.string("name"))
        #expect(pod.namespace == json.string("namespace"))
        #expect(pod.uid == json.string("uid"))
        #expect(pod.annotations == (json["annotations"] as? [String: String] ?? [:]))
        #expect(pod.labels == (json["labels"] as? [String: String] ?? [:]))
        #expect(pod.ips == (json["ips"] as? [String] ?? []))
        let namespaces = (json["linux"] as? [String: Any])?["namespaces"] as? [[String: String]] ?? []
        #expect(pod.namespaces.map(\.type) == namespaces.map { $0["type"] ?? "" })
        let network = namespaces.first { $0["type"] == "network" }?["path"]
        #expect(network != nil)
        #expect(pod.networkNamespacePath == network)
    }
}
