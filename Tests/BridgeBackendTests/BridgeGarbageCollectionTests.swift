import BackendSDK
import BridgeNetwork
import CNI
import Foundation
import Glibc
import NetworkSetup
import Testing

/// Runs `body` on a thread of its own and resumes when it returns, so that
/// blocking kernel and file work stays off the cooperative thread pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A temporary backend state directory, removed on deinit.
final class TestStateDirectory: @unchecked Sendable {
    let path = "/tmp/hydra-state-test-\(randomSuffix(10))"

    deinit {
        _ = try? runCommand("/bin/rm", ["-rf", path])
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeGCDetachesUnlistedAttachment() async throws {
    try await onThread {
        let fixture = try BridgeFixture()
        let state = TestStateDirectory()
        let records = AttachmentRecords(stateDirectory: state.path)
        let keptPod = try TestNamespace("hypod")
        let droppedPod = try TestNamespace("hypod")
        let config = fixture.config(extra: #""isGateway": true"#)
        let kept = try makeRequest(config, netns: keptPod.path, sandboxID: "gc-kept")
        let dropped = try makeRequest(config, netns: droppedPod.path, sandboxID: "gc-dropped")
        try records.save(kept, result: try fixture.plugin.add(kept))
        let droppedResult = try fixture.plugin.add(dropped)
        try records.save(dropped, result: droppedResult)
        let droppedHostVeth = droppedResult.interfaces[1].name

        let request = GCRequest(validAttachments: [AttachmentID(sandboxID: "gc-kept", networkName: fixture.network, ifName: "net1")])
        try records.collectGarbage(keeping: request, startedAt: Date().addingTimeInterval(1), deadline: .after(seconds: 10)) {
            try fixture.plugin.del($0)
        }

        #expect(droppedPod.ipLink("net1") == nil)
        #expect(fixture.host.waitUntilGone(droppedHostVeth))
        #expect(keptPod.ipLink("net1") != nil)
        #expect(fixture.data.reservedAddresses(network: fixture.network) == ["10.22.0.2"])
        let remaining = records.list().records.map(\.request.sandboxID)
        #expect(remaining == ["gc-kept"])
        #expect(records.list().records.first?.request.prevResult != nil)

        try fixture.plugin.del(kept)
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeGCKeepsRecordsNewerThanStart() async throws {
    try await onThread {
        let fixture = try BridgeFixture()
        let state = TestStateDirectory()
        let records = AttachmentRecords(stateDirectory: state.path)
        let pod = try TestNamespace("hypod")
        let request = try makeRequest(fixture.config(), netns: pod.path, sandboxID: "gc-new")
        try records.save(request, result: try fixture.plugin.add(request))

        try records.collectGarbage(keeping: GCRequest(validAttachments: []), startedAt: .distantPast,
                                   deadline: .after(seconds: 10)) { try fixture.plugin.del($0) }

        #expect(pod.ipLink("net1") != nil)
        #expect(records.list().records.count == 1)
        try fixture.plugin.del(request)
    }
}

@Test func attachmentRecordsDropUnreadableFiles() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    try FileManager.default.createDirectory(atPath: records.directory, withIntermediateDirectories: true)
    let broken = records.directory + "/broken.json"
    #expect(FileManager.default.createFile(atPath: broken, contents: Data("{\"request\": 1".utf8)))
    #expect(records.list().unreadable == [broken])

    var detached: [String] = []
    try records.collectGarbage(keeping: GCRequest(validAttachments: []), startedAt: Date(), deadline: .none) {
        detached.append($0.sandboxID)
    }

    #expect(detached.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: broken))
    try records.remove(sandboxID: "never-saved", ifName: "net1")
}

@Test func attachmentRecordsRoundTrip() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    let config = #"{"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipam": {"type": "host-local", "subnet": "10.9.0.0/24", "dataDir": "/tmp/x"}}"#
    let request = try makeRequest(config, netns: "/run/netns/p", sandboxID: "a/b", runtimeConfig: ["mac": "0a:58:00:00:00:01"])
    var result = CNIResult(cniVersion: "1.0.0")
    result.interfaces = [CNIResult.Interface(name: "net1", sandbox: "/run/netns/p")]

    try records.save(request, result: result)
    let listed = records.list()

    #expect(listed.unreadable.isEmpty)
    #expect(listed.records.count == 1)
    let stored = try #require(listed.records.first).request
    #expect(stored.sandboxID == "a/b")
    #expect(stored.netns == "/run/netns/p")
    #expect(stored.config["ipam"]?["dataDir"]?.stringValue == "/tmp/x")
    #expect(stored.runtimeConfig["mac"]?.stringValue == "0a:58:00:00:00:01")
    #expect(stored.prevResult?["interfaces"]?[0]?["name"]?.stringValue == "net1")

    try records.remove(sandboxID: "a/b", ifName: "net1")
    #expect(records.list().records.isEmpty)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeAttachPastDeadlineLeavesNothing() async throws {
    try await onThread {
        let fixture = try BridgeFixture()
        let pod = try TestNamespace("hypod")
        let request = try makeRequest(fixture.config(), netns: pod.path, sandboxID: "late")
        let expired = Deadline(monotonicNanoseconds: Deadline.now() - 1_000_000)

        var caught: CNIError?
        do {
            _ = try fixture.plugin.add(request, deadline: expired)
        } catch let error as CNIError {
            caught = error
        }

        #expect(caught?.code == CNIError.tryAgainLater)
        #expect(caught?.msg.contains("deadline") == true)
        #expect(pod.ipLink("net1") == nil)
        #expect(fixture.data.reservedAddresses(network: fixture.network).isEmpty)
        let veths = jsonArray(try fixture.host.run("/usr/sbin/ip", ["-j", "link", "show", "type", "veth"]))
        #expect(veths.isEmpty)
    }
}
