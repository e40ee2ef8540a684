import Attachments
import BackendHost
import CNI
import Foundation
import Glibc
import Orchestrator
import Testing

/// Returns the path of a backend library SwiftPM built next to the test bundle.
func builtBackendPath(_ name: String) throws -> String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<6 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("libhydra-backend-\(name).so").path
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
    }
    throw CommandFailure(description: "libhydra-backend-\(name).so not found near \(CommandLine.arguments[0]); run `swift build` with the same scratch path first")
}

/// A native backend loaded through BackendLoader in the same chain as
/// executed reference plugins.
@Suite struct NativeChainTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func nativeBridgeThenTuningAndPortmap() async throws {
        let directory = try TemporaryDirectory()
        let loader = BackendLoader(directory: directory.path, stateRoot: directory.path + "/state")
        let backends = try loader.load([BackendSpec(name: "bridge", path: try builtBackendPath("bridge"), required: true)])
        defer { backends.shutdown() }
        #expect(backends.backend(forType: "bridge") != nil)

        let pod = try TestNamespace()
        let suffix = randomSuffix(6)
        let bridge = HostLink(name: "hcn\(suffix)")
        let subnet = randomSubnetPrefix()
        let network = "chains-native-\(suffix)"
        let hostPort = Int64.random(in: 30000...39999)
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": .string(network),
            "plugins": [
                ["type": "bridge", "bridge": .string(bridge.name), "isGateway": true,
                 "ipam": ["type": "host-local", "subnet": .string("\(subnet).0/24"),
                          "dataDir": .string(directory.path + "/ipam")]],
                ["type": "tuning", "mtu": 1300],
                ["type": "portmap", "capabilities": ["portMappings": true], "snat": false],
            ],
        ]
        let runner = try makeRunner(directories: ["/usr/lib/cni"], cacheDirectory: directory.path + "/cache",
                                    backends: backends)
        let request = makeRequest(netns: pod.path, network: network, config: config,
                                  runtimeConfig: ["portMappings": [["hostPort": .integer(hostPort), "containerPort": 8080,
                                                                    "protocol": "tcp"]],
                                                  "ips": [.string("\(subnet).77/24")]])

        let result = try await runner.attach(request, deadline: deadline())

        // `ips` reached the native bridge, which bridge accepts without declaring it.
        #expect(try pod.addresses("net1") == ["\(subnet).77/24"])
        #expect(result.ips.map(\.address) == ["\(subnet).77/24"])
        let link = try #require(pod.link("net1"))
        #expect(link["mtu"] == 1300)
        let rules = try natRules()
        #expect(rules.contains("--dport \(hostPort)"))
        #expect(rules.contains("--to-destination \(subnet).77:8080"))

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())

        #expect(pod.link("net1") == nil)
        #expect(!(try natRules()).contains("--dport \(hostPort)"))
    }
}
