import BackendTestSupport
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

/// What `bridgeGCDetachesUnlistedAttachment` observed after gc.
struct BridgeGCObservation: Sendable {
    var droppedInterfacePresent: Bool
    var droppedHostVethGone: Bool
    var keptInterfacePresent: Bool
    var reserved: [String]
    var remainingRecords: [String]
    var keptRecordHasResult: Bool
}

// The kernel and file work runs on a thread of its own, and the test
// checks what it returns, so that every expectation is recorded in the
// test's own task.
@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeGCDetachesUnlistedAttachment() async throws {
    let seen = try await onThread { () throws -> BridgeGCObservation in
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
        defer { try? fixture.plugin.del(kept) }

        let request = GCRequest(validAttachments: [AttachmentID(sandboxID: "gc-kept", networkName: fixture.network, ifName: "net1")])
        try records.collectGarbage(keeping: request, startedAt: Date().addingTimeInterval(1), deadline: .after(seconds: 10)) {
            try fixture.plugin.del($0)
        }

        let remaining = records.list().records
        return BridgeGCObservation(
            droppedInterfacePresent: droppedPod.ipLink("net1") != nil,
            droppedHostVethGone: fixture.host.waitUntilGone(droppedResult.interfaces[1].name),
            keptInterfacePresent: keptPod.ipLink("net1") != nil,
            reserved: fixture.data.reservedAddresses(network: fixture.network),
            remainingRecords: remaining.map(\.request.sandboxID),
            keptRecordHasResult: remaining.first?.request.prevResult != nil)
    }

    #expect(!seen.droppedInterfacePresent)
    #expect(seen.droppedHostVethGone)
    #expect(seen.keptInterfacePresent)
    #expect(seen.reserved == ["10.22.0.2"])
    #expect(seen.remainingRecords == ["gc-kept"])
    #expect(seen.keptRecordHasResult)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func bridgeGCKeepsRecordsNewerThanStart() async throws {
    let (interfacePresent, recordCount) = try await onThread { () throws -> (Bool, Int) in
        let fixture = try BridgeFixture()
        let state = TestStateDirectory()
        let records = AttachmentRecords(stateDirectory: state.path)
        let pod = try TestNamespace("hypod")
        let request = try makeRequest(fixture.config(), netns: pod.path, sandboxID: "gc-new")
        try records.save(request, result: try fixture.plugin.add(request))
        defer { try? fixture.plugin.del(request) }

        try records.collectGarbage(keeping: GCRequest(validAttachments: []), startedAt: .distantPast,
                                   deadline: .after(seconds: 10)) { try fixture.plugin.del($0) }

        return (pod.ipLink("net1") != nil, records.list().records.count)
    }

    #expect(interfacePresent)
    #expect(recordCount == 1)
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
    let (caught, interfacePresent, reserved, veths) = try await onThread {
        () throws -> (CNIError?, Bool, [String], Int) in
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
        let veths = jsonArray(try fixture.host.run("/usr/sbin/ip", ["-j", "link", "show", "type", "veth"]))
        return (caught, pod.ipLink("net1") != nil, fixture.data.reservedAddresses(network: fixture.network), veths.count)
    }

    #expect(caught?.code == CNIError.tryAgainLater)
    #expect(caught?.msg.contains("deadline") == true)
    #expect(!interfacePresent)
    #expect(reserved.isEmpty)
    #expect(veths == 0)
}

@Test func recordingAttachWritesRecordFirst() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    let request = try makeRequest(#"{"cniVersion": "1.0.0", "name": "n", "type": "bridge"}"#,
                                  netns: "/run/netns/p", sandboxID: "first")
    var result = CNIResult(cniVersion: "1.0.0")
    result.interfaces = [CNIResult.Interface(name: "net1", sandbox: "/run/netns/p")]

    var recordsDuringAttach: [String] = []
    let returned = try records.recordingAttach(request, storeResult: false) {
        recordsDuringAttach = records.list().records.map(\.request.sandboxID)
        return result
    } undo: { _ in
        Issue.record("undo ran after a successful attach")
    }

    #expect(recordsDuringAttach == ["first"])
    #expect(returned == result)
    let stored = try #require(records.list().records.first)
    #expect(stored.request.prevResult == nil)
}

@Test func recordingAttachStoresResultWhenAsked() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    let request = try makeRequest(#"{"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipMasq": true}"#,
                                  netns: "/run/netns/p", sandboxID: "masq")
    var result = CNIResult(cniVersion: "1.0.0")
    result.ips = [CNIResult.IPConfig(address: "10.9.0.2/24")]

    _ = try records.recordingAttach(request, storeResult: true) { result } undo: { _ in }

    let stored = try #require(records.list().records.first)
    #expect(stored.request.prevResult?["ips"]?[0]?["address"]?.stringValue == "10.9.0.2/24")
}

@Test func recordingAttachRemovesRecordOnFailure() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    let request = try makeRequest(#"{"cniVersion": "1.0.0", "name": "n", "type": "bridge"}"#,
                                  netns: "/run/netns/p", sandboxID: "failing")

    #expect(throws: CNIError.self) {
        try records.recordingAttach(request, storeResult: false) {
            throw CNIError(code: CNIError.internalError, msg: "attach failed")
        } undo: { _ in }
    }

    #expect(records.list().records.isEmpty)
    #expect(records.list().unreadable.isEmpty)
}

@Test func recordingAttachReplacesOldRecord() throws {
    let state = TestStateDirectory()
    let records = AttachmentRecords(stateDirectory: state.path)
    let old = try makeRequest(#"{"cniVersion": "1.0.0", "name": "old", "type": "bridge"}"#,
                              netns: "/run/netns/p", sandboxID: "again")
    let new = try makeRequest(#"{"cniVersion": "1.0.0", "name": "new", "type": "bridge"}"#,
                              netns: "/run/netns/p", sandboxID: "again")
    try records.save(old, result: nil)

    _ = try records.recordingAttach(new, storeResult: false) { CNIResult(cniVersion: "1.0.0") } undo: { _ in }

    let listed = records.list().records
    #expect(listed.count == 1)
    #expect(listed.first?.request.config["name"]?.stringValue == "new")
}
