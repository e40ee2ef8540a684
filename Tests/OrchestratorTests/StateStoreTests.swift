import CNI
import Foundation
import Testing
@testable import Orchestrator

@Suite struct StateStoreTests {
    func sampleRecord(_ id: String) -> SandboxRecord {
        let pod = PodReference(namespace: "default", name: "web", uid: "uid-1")
        let request = AttachmentRequest(
            plan: PlannedAttachment(network: "macvlan-conf", definitionNamespace: "default", interface: "net1",
                                    config: ["cniVersion": "1.0.0", "type": "macvlan", "mtu": 1500, "weight": 0.5],
                                    runtimeConfig: ["ips": ["10.1.1.5/24"]], defaultRoute: ["10.1.1.1"],
                                    origin: .annotation(position: 1)),
            sandboxID: id, pod: pod, netnsPath: "/var/run/netns/x")
        let result = CNIResult(cniVersion: "1.0.0",
                               interfaces: [CNIResult.Interface(name: "net1", mac: "02:00:00:00:00:01", sandbox: "/var/run/netns/x")],
                               ips: [CNIResult.IPConfig(address: "10.1.1.5/24", gateway: "10.1.1.1", interface: 0)],
                               dns: CNIResult.DNS(nameservers: ["10.1.1.53"]))
        var intentRequest = request
        intentRequest.interface = "net2"
        return SandboxRecord(sandboxID: id, pod: pod, netnsPath: "/var/run/netns/x",
                             attachments: [AttachmentRecord(request: request, result: result)],
                             intent: AttachmentRecord(request: intentRequest))
    }

    @Test func recordSurvivesReload() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let record = sampleRecord("abc123")
        try StateStore(directory: directory.path).save(record)

        let reopened = StateStore(directory: directory.path)
        let loaded = try #require(try reopened.load(sandboxID: "abc123"))
        #expect(loaded == record)
        #expect(loaded.attachments[0].request.config["mtu"] == .integer(1500))
        #expect(loaded.attachments[0].backend == "macvlan")
        #expect(loaded.intent?.result == nil)
        #expect(try reopened.loadAll().records == [record])
    }

    @Test func recordFileLayout() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try StateStore(directory: directory.path).save(sampleRecord("layout"))
        let text = try String(contentsOfFile: directory.path + "/sandboxes/layout.json", encoding: .utf8)
        let file = try JSONValue(parsing: text)
        #expect(file["version"] == 1)
        #expect(file["sandboxID"] == "layout")
        #expect(file["netnsPath"] == "/var/run/netns/x")
        #expect(file["pod"] == ["namespace": "default", "name": "web", "uid": "uid-1"])
        let attachment = try #require(file["attachments"]?[0])
        #expect(attachment["network"] == "macvlan-conf")
        #expect(attachment["definitionNamespace"] == "default")
        #expect(attachment["interface"] == "net1")
        #expect(attachment["backend"] == "macvlan")
        #expect(attachment["config"]?["mtu"] == .integer(1500))
        #expect(attachment["runtimeConfig"] == ["ips": ["10.1.1.5/24"]])
        #expect(attachment["defaultRoute"] == ["10.1.1.1"])
        #expect(attachment["result"]?["ips"]?[0]?["address"] == "10.1.1.5/24")
        #expect(attachment["cniArgs"]?["K8S_POD_INFRA_CONTAINER_ID"] == "layout")
        #expect(file["intent"]?["interface"] == "net2")
        #expect(file["intent"]?["result"] == nil)
    }

    @Test func missingRecordIsNil() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(try StateStore(directory: directory.path).load(sandboxID: "none") == nil)
        #expect(try StateStore(directory: directory.path).loadAll().records.isEmpty)
    }

    @Test func removeDeletesFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = StateStore(directory: directory.path)
        try store.save(sampleRecord("gone"))
        try store.remove(sandboxID: "gone")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/sandboxes/gone.json"))
        try store.remove(sandboxID: "gone")
    }

    @Test func unreadableRecordMovedAside() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = StateStore(directory: directory.path)
        try store.save(sampleRecord("good"))
        try Data("{\"version\": 1, \"sandbox".utf8).write(to: URL(fileURLWithPath: directory.path + "/sandboxes/bad.json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: directory.path + "/sandboxes/old.json"))
        try Data("partial".utf8).write(to: URL(fileURLWithPath: directory.path + "/sandboxes/.good.json.tmp"))

        let loaded = try store.loadAll()
        #expect(loaded.records.map(\.sandboxID) == ["good"])
        #expect(loaded.unreadable.map(\.sandboxID) == ["bad", "old"])
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/sandboxes/bad.json"))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/sandboxes/.good.json.tmp"))
        #expect(store.unreadableFiles().count == 2)
        #expect(loaded.unreadable[1].reason.contains("version"))
    }

    @Test func unsafeSandboxIDRejected() {
        #expect(throws: StateStoreError.self) {
            try StateStore(directory: "/nonexistent").save(sampleRecord("../etc"))
        }
    }

    @Test func writeLeavesNoTemporaryFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = StateStore(directory: directory.path)
        var record = sampleRecord("s1")
        try store.save(record)
        record.stopped = true
        try store.save(record)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/sandboxes")
        #expect(names == ["s1.json"])
        #expect(try store.load(sandboxID: "s1")?.stopped == true)
    }
}
