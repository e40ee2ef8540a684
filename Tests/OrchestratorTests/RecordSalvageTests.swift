import CNI
import Foundation
import NRIWire
import Testing
@testable import Orchestrator

/// Writes the record of `sandboxID` after `edit` has changed its JSON, so
/// the store finds it unreadable.
func writeDamagedRecord(_ record: SandboxRecord, in directory: String, as sandboxID: String,
                        _ edit: (inout [String: JSONValue]) -> Void) throws {
    guard case var .object(object) = try record.jsonValue() else { throw FakeFailure(description: "record is not an object") }
    edit(&object)
    try FileManager.default.createDirectory(atPath: directory + "/sandboxes", withIntermediateDirectories: true)
    try JSONValue.object(object).encoded(sortedKeys: true)
        .write(to: URL(fileURLWithPath: "\(directory)/sandboxes/\(sandboxID).json"))
}

/// Removes `config` from the attachment at `index`, so that entry alone no longer decodes.
func breakAttachment(_ object: inout [String: JSONValue], at index: Int) {
    guard case var .array(attachments)? = object["attachments"],
          case var .object(attachment) = attachments[index] else { return }
    attachment.removeValue(forKey: "config")
    attachments[index] = .object(attachment)
    object["attachments"] = .array(attachments)
}

@Suite struct RecordSalvageTests {
    @Test func salvageKeepsDecodableAttachments() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "s1"), deadline: farDeadline)
        let record = try #require(try harness.store.load(sandboxID: "s1"))
        try writeDamagedRecord(record, in: harness.directory.path, as: "s1") {
            $0["version"] = .integer(99)
            breakAttachment(&$0, at: 1)
        }

        let loaded = try harness.store.loadAll()
        let unreadable = try #require(loaded.unreadable.first)
        let salvaged = try #require(harness.store.salvage(unreadable))
        #expect(salvaged.sandboxID == "s1")
        #expect(salvaged.attachments.map(\.request.interface) == ["net1", "net3"])
        #expect(salvaged.pod == record.pod)
        #expect(salvaged.netnsPath == record.netnsPath)
    }

    @Test func salvageRejectsOtherSandboxRecord() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "owner"), deadline: farDeadline)
        let record = try #require(try harness.store.load(sandboxID: "owner"))
        try writeDamagedRecord(record, in: harness.directory.path, as: "other") { _ in }

        let unreadable = try #require(try harness.store.loadAll().unreadable.first)
        #expect(unreadable.sandboxID == "other")
        #expect(harness.store.salvage(unreadable) == nil)
    }

    @Test func salvageOfInvalidJSONIsNil() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = StateStore(directory: directory.path)
        try FileManager.default.createDirectory(atPath: directory.path + "/sandboxes", withIntermediateDirectories: true)
        try Data("{\"version\": 1, \"sandbox".utf8).write(to: URL(fileURLWithPath: directory.path + "/sandboxes/cut.json"))
        let unreadable = try #require(try store.loadAll().unreadable.first)
        #expect(store.salvage(unreadable) == nil)
    }

    @Test func reconcileDetachesSalvagedOfVanishedPod() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "v1"), deadline: farDeadline)
        let record = try #require(try harness.store.load(sandboxID: "v1"))
        try writeDamagedRecord(record, in: harness.directory.path, as: "v1") { breakAttachment(&$0, at: 0) }
        let before = harness.runner.calls.current.count

        await harness.orchestrator.synchronize(pods: [])
        let calls = Array(harness.runner.calls.current.dropFirst(before))
        #expect(calls == ["detach v1 c net3 attached", "detach v1 b net2 attached"])
        #expect(try harness.store.load(sandboxID: "v1") == nil)
        #expect(harness.orchestrator.counters.recordsSalvaged == 1)
        #expect(harness.store.unreadableFiles().count == 1, "the original stays for the operator")
    }

    @Test func stopDetachesSalvagedAttachments() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "st"), deadline: farDeadline)
        let record = try #require(try harness.store.load(sandboxID: "st"))
        try writeDamagedRecord(record, in: harness.directory.path, as: "st") {
            $0.removeValue(forKey: "pod")
            breakAttachment(&$0, at: 2)
        }
        let before = harness.runner.calls.current.count

        await harness.orchestrator.removePodSandbox(makePod(id: "st"), deadline: farDeadline)
        let calls = Array(harness.runner.calls.current.dropFirst(before))
        #expect(calls == ["detach st b net2 attached", "detach st a net1 attached"])
        #expect(try harness.store.load(sandboxID: "st") == nil)
    }

    @Test func runningPodWithSalvagedRecordNotAttachedTwice() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "r1")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        let record = try #require(try harness.store.load(sandboxID: "r1"))
        try writeDamagedRecord(record, in: harness.directory.path, as: "r1") { $0["version"] = .integer(99) }
        let before = harness.runner.calls.current.count

        await harness.orchestrator.synchronize(pods: [pod])
        #expect(harness.runner.calls.current.count == before, "every attachment decoded, so nothing is attached again")
        #expect(try harness.store.load(sandboxID: "r1")?.attachments.count == 3)
    }

    @Test func garbageRecordOfRunningPodNotReattachedLater() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try FileManager.default.createDirectory(atPath: harness.directory.path + "/sandboxes", withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: harness.directory.path + "/sandboxes/g1.json"))

        await harness.orchestrator.synchronize(pods: [makePod(id: "g1")])
        await harness.orchestrator.reconcile()
        #expect(harness.runner.calls.current.isEmpty, "interfaces of the lost record may still be in the pod")
        #expect(harness.orchestrator.counters.unreadableRecords == 1)
    }
}
