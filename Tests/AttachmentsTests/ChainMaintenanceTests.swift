import Attachments
import CNI
import Foundation
import Orchestrator
import Testing

/// The daemon's periodic STATUS and GC passes over configured networks.
@Suite struct ChainMaintenanceTests {
    @Test func statusFailureBlocksReadinessUntilRecovery() async throws {
        let directory = try TemporaryDirectory()
        let marker = directory.path + "/unavailable"
        try directory.script("pool", """
            cat >/dev/null
            if [ "$CNI_COMMAND" = STATUS ] && [ -e \(marker) ]; then
              printf '{"cniVersion":"1.1.0","code":50,"msg":"IP pool exhausted"}'
              exit 1
            fi
            exit 0
            """)
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let current: JSONValue = ["cniVersion": "1.1.0", "name": "pooled", "plugins": [["type": "pool"]]]
        // A 1.0.0 chain has no STATUS: it stays ready whatever the plugin would return.
        let older: JSONValue = ["cniVersion": "1.0.0", "name": "older", "plugins": [["type": "pool"]]]
        let networks = [NetworkDefinition(name: "pooled", config: current),
                        NetworkDefinition(name: "older", config: older)]
        let health = ChainHealth()
        let maintenance = ChainMaintenance(runner: runner, networks: { networks }, stateDirectory: directory.path,
                                           health: health)

        await maintenance.checkStatus()
        #expect(health.notReadyReason() == nil)

        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        await maintenance.checkStatus()
        let reason = try #require(health.notReadyReason())
        #expect(reason.contains("network \"pooled\""))
        #expect(reason.contains("plugin 0 (pool) STATUS failed"))
        #expect(reason.contains("IP pool exhausted"))
        #expect(reason.contains("code 50"))
        #expect(!reason.contains("older"))

        try FileManager.default.removeItem(atPath: marker)
        await maintenance.checkStatus()
        #expect(health.notReadyReason() == nil)
    }

    @Test func gcDeletesCacheOfRecordlessSandbox() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-g", recorderScript(log: log, tag: "g"))
        let stateDir = directory.path + "/state"
        let cacheDir = stateDir + "/cni-cache"
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: cacheDir)
        let config: JSONValue = ["cniVersion": "1.1.0", "name": "swept", "plugins": [["type": "rec-g"]]]

        let live = makeRequest(sandboxID: "live-\(randomSuffix())", netns: "/run/netns/none", network: "swept", config: config)
        let stale = makeRequest(sandboxID: "stale-\(randomSuffix())", netns: "/run/netns/none", network: "swept", config: config)
        let garbled = makeRequest(sandboxID: "garbled-\(randomSuffix())", netns: "/run/netns/none", network: "swept", config: config)
        for request in [live, stale, garbled] {
            _ = try await runner.attach(request, deadline: deadline())
        }
        let store = StateStore(directory: stateDir)
        try store.save(SandboxRecord(sandboxID: live.sandboxID, pod: live.pod, netnsPath: live.netnsPath,
                                     attachments: [AttachmentRecord(request: live)]))
        // A record that cannot be read protects its sandbox's cache entries.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(stateDir)/sandboxes/\(garbled.sandboxID).json"))

        // Entries written just now are kept (an attach may be saving its
        // record meanwhile); age them past the grace period.
        let results = cacheDir + "/results"
        func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: results).sorted() }
        let maintenance = ChainMaintenance(runner: runner, networks: { [NetworkDefinition(name: "swept", config: config)] },
                                           stateDirectory: stateDir, health: ChainHealth())
        await maintenance.collectGarbage()
        #expect(try names().count == 3)
        #expect(try recordedCalls(log).filter { $0.command == "DEL" }.isEmpty)

        for name in try names() {
            var times = [timeval(tv_sec: time(nil) - 60, tv_usec: 0), timeval(tv_sec: time(nil) - 60, tv_usec: 0)]
            #expect(utimes(results + "/" + name, &times) == 0)
        }
        await maintenance.collectGarbage()

        #expect(try names() == ["swept-\(garbled.sandboxID)-net1", "swept-\(live.sandboxID)-net1"].sorted())
        let deletes = try recordedCalls(log).filter { $0.command == "DEL" }
        #expect(deletes.count == 1)
        #expect(deletes.first?.env.contains("CNI_CONTAINERID=\(stale.sandboxID)") == true)
        let gc = try #require(try recordedCalls(log).last { $0.command == "GC" })
        let valid = gc.stdin["cni.dev/valid-attachments"]?.arrayValue?.compactMap { $0["containerID"]?.stringValue }
        #expect(Set(valid ?? []) == [live.sandboxID, garbled.sandboxID])
        // The record files stay where they are: GC moves nothing aside.
        #expect(FileManager.default.fileExists(atPath: "\(stateDir)/sandboxes/\(garbled.sandboxID).json"))
    }
}
