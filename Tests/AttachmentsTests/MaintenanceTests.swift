import Attachments
import CNI
import Foundation
import Glibc
import Orchestrator
import Testing

/// GC, STATUS and `cniVersions`, which Debian's 1.1.1 reference plugins
/// predate, with shell plugins written for the purpose.
@Suite struct MaintenanceTests {
    @Test func cniVersionsPicksHighestCommonVersion() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("old-a", recorderScript(log: log, tag: "a", supportedVersions: ["0.3.1", "0.4.0", "1.0.0"]))
        try directory.script("old-b", recorderScript(log: log, tag: "b", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"]))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")
        let config: JSONValue = ["cniVersion": "0.4.0", "cniVersions": ["0.4.0", "1.0.0", "1.1.0", "9.9.9"],
                                 "name": "negotiate", "plugins": [["type": "old-a"], ["type": "old-b"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "negotiate", config: config)

        let result = try await runner.attach(request, deadline: deadline())

        #expect(result.cniVersion == "1.0.0")
        let calls = try recordedCalls(log)
        #expect(calls.map { $0.stdin["cniVersion"] } == ["1.0.0", "1.0.0"])
        #expect(calls.allSatisfy { $0.stdin["cniVersions"] == nil })

        let impossible: JSONValue = ["cniVersion": "1.1.0", "cniVersions": ["1.1.0"], "name": "negotiate",
                                     "plugins": [["type": "old-a"], ["type": "old-b"]]]
        let rejected = makeRequest(netns: "/run/netns/none", network: "negotiate", config: impossible)
        do {
            _ = try await runner.attach(rejected, deadline: deadline())
            Issue.record("attach succeeded without a common version")
        } catch let error as CNIError {
            #expect(error.code == CNIError.incompatibleCNIVersion)
            #expect(error.details.contains("old-a supports [0.3.1, 0.4.0, 1.0.0]"))
        }
    }

    @Test func statusReportsPluginCodes() async throws {
        let directory = try TemporaryDirectory()
        let marker = directory.path + "/unavailable"
        try directory.script("stat", """
            cat > \(directory.path)/status.stdin
            if [ "$CNI_COMMAND" = STATUS ] && [ -e \(marker) ]; then
              printf '{"cniVersion":"1.1.0","code":50,"msg":"IP pool exhausted"}'
              exit 1
            fi
            exit 0
            """)
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let config: JSONValue = ["cniVersion": "1.1.0", "name": "ready", "plugins": [["type": "stat", "capabilities": ["ips": true]]]]

        try await runner.status(network: "ready", config: config, deadline: deadline())
        let input = try json(try String(contentsOfFile: directory.path + "/status.stdin", encoding: .utf8))
        #expect(input["name"] == "ready")
        #expect(input["cniVersion"] == "1.1.0")
        #expect(input["capabilities"] == nil)

        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        do {
            try await runner.status(network: "ready", config: config, deadline: deadline())
            Issue.record("STATUS succeeded while the plugin reported code 50")
        } catch let error as ChainStepError {
            #expect(error.cniError.code == CNIError.pluginNotAvailable)
            #expect(error.description.contains("IP pool exhausted"))
        }

        // Before 1.1.0 there is no STATUS: nothing runs and the network is ready.
        let old: JSONValue = ["cniVersion": "1.0.0", "name": "ready", "plugins": [["type": "stat"]]]
        try await runner.status(network: "ready", config: old, deadline: deadline())
    }

    @Test func gcDeletesStaleAttachmentsThenSendsValidList() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")
        let config: JSONValue = ["cniVersion": "1.1.0", "name": "collect", "plugins": [["type": "rec-a"]]]
        let live = makeRequest(sandboxID: "live-\(randomSuffix())", netns: "/run/netns/none", network: "collect", config: config)
        let stale = makeRequest(sandboxID: "stale-\(randomSuffix())", netns: "/run/netns/none", network: "collect", config: config)
        _ = try await runner.attach(live, deadline: deadline())
        _ = try await runner.attach(stale, deadline: deadline())

        try await runner.garbageCollect(network: "collect", config: config,
                                        valid: [ValidAttachment(containerID: live.sandboxID, ifName: "net1")],
                                        deadline: deadline())

        let calls = try recordedCalls(log).dropFirst(2)
        #expect(calls.map(\.command) == ["DEL", "GC"])
        #expect(calls.first?.env.contains("CNI_CONTAINERID=\(stale.sandboxID)") == true)
        let expected: JSONValue = [["containerID": .string(live.sandboxID), "ifname": "net1"]]
        #expect(calls.last?.stdin["cni.dev/valid-attachments"] == expected)
        #expect(calls.last?.stdin["cni.dev/attachments"] == expected)
        #expect(calls.last?.stdin["name"] == "collect")
        #expect(calls.last?.env.contains("CNI_CONTAINERID=") == true)
        let results = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/cache/results")
        #expect(results == ["collect-\(live.sandboxID)-net1"])
    }

    @Test func gcDisabledOrOldVersion() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")
        let disabled: JSONValue = ["cniVersion": "1.1.0", "name": "keep", "disableGC": true, "plugins": [["type": "rec-a"]]]
        let stale = makeRequest(netns: "/run/netns/none", network: "keep", config: disabled)
        _ = try await runner.attach(stale, deadline: deadline())

        try await runner.garbageCollect(network: "keep", config: disabled, valid: [], deadline: deadline())
        #expect(try recordedCalls(log).map(\.command) == ["ADD"])

        // 1.0.0: stale attachments are deleted, but no GC command is sent.
        let old: JSONValue = ["cniVersion": "1.0.0", "name": "keep", "plugins": [["type": "rec-a"]]]
        try await runner.garbageCollect(network: "keep", config: old, valid: [], deadline: deadline())
        #expect(try recordedCalls(log).map(\.command) == ["ADD", "DEL"])
    }
}
