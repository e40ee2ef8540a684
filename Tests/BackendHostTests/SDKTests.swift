import BackendSDK
import CNI
import Foundation
import Testing
@testable import BackendHost

@Suite struct AttachRequestTests {
    @Test func roundTripKeepsEveryField() throws {
        let request = AttachRequest(
            sandboxID: "s1", podName: "web-0", podNamespace: "default", podUID: "uid-1",
            netns: "/var/run/netns/x", ifName: "net1", networkName: "default/storage",
            config: ["cniVersion": "1.0.0", "name": "storage", "type": "dummy", "mtu": 1400],
            runtimeConfig: ["mac": "02:00:00:00:00:01", "ips": ["10.0.0.5/24"]],
            args: ["K8S_POD_NAME": "web-0"],
            prevResult: ["cniVersion": "1.0.0", "interfaces": []])
        let decoded = try AttachRequest(jsonText: request.jsonValue().encoded())
        #expect(decoded == request)
        #expect(decoded.pluginType == "dummy")
        #expect(decoded.cniVersion == "1.0.0")
    }

    @Test func networkNameDefaultsToConfigName() throws {
        let decoded = try AttachRequest(json: [
            "sandboxID": "s1", "ifName": "net1", "config": ["name": "lab", "type": "dummy"],
        ])
        #expect(decoded.networkName == "lab")
        #expect(decoded.netns == "")
        #expect(decoded.args.isEmpty)
    }

    @Test(arguments: [
        (#"{"ifName":"net1","config":{"type":"dummy"}}"#, 7 as UInt, "invalid request: missing field \"sandboxID\""),
        (#"{"sandboxID":"s","config":{"type":"dummy"}}"#, 7, "invalid request: missing field \"ifName\""),
        (#"{"sandboxID":"s","ifName":"n"}"#, 7, "invalid request: missing object \"config\""),
        (#"{"sandboxID":"s","ifName":"n","config":{}}"#, 7, "invalid request: config has no \"type\""),
        (#"{"sandboxID":1,"ifName":"n","config":{"type":"d"}}"#, 7, "invalid request: field \"sandboxID\" must be a string"),
        (#"{"sandboxID":"s","ifName":"n","config":{"type":"d"},"args":{"A":1}}"#, 4, "invalid request: args value for \"A\" must be a string"),
        (#"[]"#, 6, "invalid request: expected a JSON object"),
    ])
    func invalidRequestsAreRejected(text: String, code: UInt, message: String) {
        do {
            _ = try AttachRequest(jsonText: Data(text.utf8))
            Issue.record("expected \(text) to be rejected")
        } catch {
            #expect(error.code == code)
            #expect(error.msg == message)
        }
    }

    @Test func gcRequestRoundTrip() throws {
        let request = GCRequest(validAttachments: [AttachmentID(sandboxID: "a", networkName: "n", ifName: "net1")])
        let decoded = try GCRequest(jsonText: request.jsonValue().encoded())
        #expect(decoded == request)
        #expect(decoded.contains(sandboxID: "a", ifName: "net1"))
        #expect(!decoded.contains(sandboxID: "a", ifName: "net2"))
        #expect(throws: CNIError.self) { try GCRequest(jsonText: Data("{}".utf8)) }
    }

    @Test func pluginRequestRoundTrip() throws {
        let request = CNIPluginRequest(command: "ADD", type: "host-local", config: ["cniVersion": "1.0.0", "name": "n"],
                                       containerID: "c", netns: "/var/run/netns/x", ifName: "net1", args: ["IP": "10.0.0.9"])
        #expect(try CNIPluginRequest(json: request.jsonValue()) == request)
    }
}

@Suite struct SwiftSDKExportTests {
    func loadSwiftTestBackend(_ directory: TemporaryDirectory, configuration: JSONValue) throws -> LoadedBackend {
        let path = try swiftTestBackendPath()
        return try makeLoader(directory).loadOne(BackendSpec(name: "swifttest", path: path, configuration: configuration))
    }

    @Test func identityComesFromType() throws {
        let directory = try TemporaryDirectory()
        let backend = try loadSwiftTestBackend(directory, configuration: [:])
        defer { backend.shutdown() }
        #expect(backend.name == "swifttest")
        #expect(backend.library.version == "1.0.0")
        #expect(backend.types == ["swifttest"])
        #expect(backend.library.isThreadSafe)
        #expect(backend.library.hasGarbageCollection)
    }

    @Test func thrownCNIErrorKeepsCode() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadSwiftTestBackend(directory, configuration: ["attachErrorCode": 123])
        defer { backend.shutdown() }
        let request = AttachRequest(sandboxID: "s1", netns: "/var/run/netns/none", ifName: "net1",
                                    networkName: "n", config: ["cniVersion": "1.0.0", "name": "n", "type": "swifttest"])
        do {
            _ = try await backend.attach(request, deadline: .after(seconds: 5))
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .backendError)
            #expect(error.code == 123)
            #expect(error.message == "attach failed on purpose with code 123")
        }
    }

    @Test func hostCodeFromBackendBecomesInternalError() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadSwiftTestBackend(directory, configuration: ["attachErrorCode": 1500])
        defer { backend.shutdown() }
        let request = AttachRequest(sandboxID: "s1", netns: "/var/run/netns/none", ifName: "net1",
                                    networkName: "n", config: ["cniVersion": "1.0.0", "name": "n", "type": "swifttest"])
        do {
            _ = try await backend.attach(request, deadline: .after(seconds: 5))
            Issue.record("expected an error")
        } catch {
            // The SDK maps codes a backend may not return to 999 and keeps the original in the message.
            #expect(error.kind == .backendError)
            #expect(error.code == 999)
            #expect(error.message.contains("backend used invalid code 1500"))
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func preOneZeroConfigGetsOneZeroResult() async throws {
        let directory = try TemporaryDirectory()
        let namespace = "hx-sdk-\(UInt32.random(in: 0...0xFFFFFF))"
        try runTool("/usr/sbin/ip", ["netns", "add", namespace])
        defer { _ = try? runTool("/usr/sbin/ip", ["netns", "del", namespace]) }
        let backend = try loadSwiftTestBackend(directory, configuration: ["skipInterface": true])
        defer { backend.shutdown() }

        for (configVersion, resultVersion) in [("0.4.0", "1.0.0"), ("1.0.0", "1.0.0"), ("1.1.0", "1.1.0")] {
            let request = AttachRequest(sandboxID: "s-\(configVersion)", netns: "/var/run/netns/\(namespace)", ifName: "net1",
                                        networkName: "n",
                                        config: ["cniVersion": .string(configVersion), "name": "n", "type": "swifttest"])
            let result = try await backend.attach(request, deadline: .after(seconds: 5))
            #expect(result.cniVersion == resultVersion, "config version \(configVersion)")
        }
    }

    @Test func shutdownWaitsForCallsInFlight() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadSwiftTestBackend(directory, configuration: ["attachDelaySeconds": 0.5, "attachErrorCode": 100])
        let request = AttachRequest(sandboxID: "s1", netns: "/var/run/netns/none", ifName: "net1",
                                    networkName: "n", config: ["cniVersion": "1.0.0", "name": "n", "type": "swifttest"])
        let call = Task { try await backend.attach(request, deadline: .after(seconds: 5)) }
        try await Task.sleep(nanoseconds: 100_000_000)
        let started = Date()
        backend.shutdown()
        #expect(Date().timeIntervalSince(started) > 0.2, "shutdown returned before the call in flight ended")
        let outcome = await call.result
        #expect(throws: BackendCallError.self) { try outcome.get() }

        do {
            _ = try await backend.attach(request, deadline: .after(seconds: 5))
            Issue.record("expected calls after shutdown to fail")
        } catch {
            #expect(error.message == "the backend was shut down")
        }
    }
}
