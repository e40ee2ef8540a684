import FakeAPIServerKit
import Foundation
import Testing
@testable import Kubernetes

@Suite("FakeAPIServer")
struct FakeAPIServerTests {
    @Test("merge patch follows RFC 7386")
    func mergePatch() throws {
        // Cases from RFC 7386, appendix A.
        let cases: [(String, String, String)] = [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"a":1,"e":null}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ]
        for (target, patch, expected) in cases {
            let result = try JSONValue.parse(Data(target.utf8)).mergePatched(with: JSONValue.parse(Data(patch.utf8)))
            #expect(result == (try JSONValue.parse(Data(expected.utf8))), "\(target) + \(patch)")
        }
    }

    @Test("seed file loads pods and NADs")
    func seed() throws {
        let directory = try TemporaryDirectory("kube-seed")
        defer { directory.remove() }
        let path = directory.path + "/seed.json"
        let seed = #"""
            {"pods": [{"metadata": {"name": "demo", "namespace": "default", "uid": "uid-demo"}}],
             "networkAttachmentDefinitions": [{"metadata": {"name": "cbr0", "namespace": "default"},
                                               "spec": {"config": "{\"type\":\"bridge\"}"}}]}
            """#
        try Data(seed.utf8).write(to: URL(fileURLWithPath: path))

        let server = try FakeAPIServer(seed: FakeAPIServer.loadSeed(path: path))

        #expect(server.pod(namespace: "default", name: "demo")?["metadata"]?["uid"]?.stringValue == "uid-demo")
        #expect(server.pod(namespace: "default", name: "demo")?["metadata"]?["resourceVersion"] != nil)
    }

    @Test("seed without a name is rejected")
    func invalidSeed() throws {
        let seed = FakeAPIServer.Seed(pods: [.object(["metadata": .object(["namespace": .string("default")])])])
        #expect(throws: FakeAPIServerError.self) {
            _ = try FakeAPIServer(seed: seed)
        }
    }

    @Test("non-loopback listen address is rejected")
    func loopbackOnly() throws {
        let server = try FakeAPIServer(host: "0.0.0.0")
        #expect(throws: FakeAPIServerError.self) {
            try server.start()
        }
    }

    @Test("executable prints its URL and serves the seed")
    func executable() async throws {
        // The test bundle sits next to the products of the same build.
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var binary = buildDirectory.appendingPathComponent("hydra-fake-apiserver").path
        if !FileManager.default.isExecutableFile(atPath: binary) {
            binary = buildDirectory.deletingLastPathComponent().appendingPathComponent("hydra-fake-apiserver").path
        }
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "build the hydra-fake-apiserver product first (swift build --product hydra-fake-apiserver)")

        let directory = try TemporaryDirectory("kube-exe")
        defer { directory.remove() }
        let seedPath = directory.path + "/seed.json"
        let urlPath = directory.path + "/url"
        try Data(#"{"pods": [{"metadata": {"name": "demo", "namespace": "default"}}]}"#.utf8)
            .write(to: URL(fileURLWithPath: seedPath))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--listen", "127.0.0.1:0", "--seed", seedPath, "--print-url-file", urlPath]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL because children of Foundation's Process inherit a mask blocking SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        var url: String?
        for _ in 0..<250 where url == nil {
            url = FileManager.default.contents(atPath: urlPath).map {
                String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if url == nil {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let base = try #require(url)
        #expect(base.hasPrefix("http://127.0.0.1:"))

        let client = KubernetesClient(configuration: try ClientConfiguration(serverURL: base), logger: testLogger())
        let pod = try await client.getPod(namespace: "default", name: "demo")
        #expect(pod.metadata.name == "demo")
    }

    @Test("debug endpoints add faults and list requests")
    func debugEndpoints() async throws {
        let server = try FakeAPIServer()
        let base = try server.start()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")
        let transport = CurlTransport(caFile: nil, userAgent: "test", connectTimeout: .seconds(2))

        let rule = #"{"method":"GET","pathPrefix":"/api/v1/","action":{"status":{"code":503}},"count":1}"#
        let added = try await transport.perform(HTTPRequest(method: "POST", url: base + "/debug/faults",
                                                            headers: ["Content-Type: application/json"],
                                                            body: Data(rule.utf8), timeout: .seconds(5)))
        #expect(added.status == 201)

        let path = "/api/v1/namespaces/ns1/pods/web"
        let failed = try await transport.perform(HTTPRequest(method: "GET", url: base + path, headers: [],
                                                             body: nil, timeout: .seconds(5)))
        #expect(failed.status == 503)
        let served = try await transport.perform(HTTPRequest(method: "GET", url: base + path, headers: [],
                                                             body: nil, timeout: .seconds(5)))
        #expect(served.status == 200)

        let listed = try await transport.perform(HTTPRequest(method: "GET", url: base + "/debug/requests",
                                                             headers: [], body: nil, timeout: .seconds(5)))
        let requests = try JSONDecoder().decode([RecordedRequest].self, from: listed.body)
        #expect(requests.map(\.status) == [503, 200])
        #expect(requests.allSatisfy { $0.path == path })
    }
}
