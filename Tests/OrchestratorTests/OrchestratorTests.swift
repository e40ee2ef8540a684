import CNI
import Foundation
import HydraLog
import NRIWire
import Testing
@testable import Orchestrator

/// An orchestrator over a fake runner and a temporary state directory.
struct Harness {
    let directory = TemporaryDirectory()
    let runner = FakeRunner()
    let publisher = RecordingPublisher()
    let events = RecordingEvents()
    let logLines = Box<[String]>([])
    let orchestrator: Orchestrator

    init(networks: [NetworkDefinition] = Harness.threeNetworks, attachMissing: Bool = true) {
        var configuration = HydraConfiguration()
        configuration.stateDir = directory.path
        configuration.networks = networks
        configuration.reconcile.attachMissing = attachMissing
        let lines = logLines
        let sink = LogSink(level: .debug, write: { line in lines.with { $0.append(line) } })
        orchestrator = Orchestrator(configuration: configuration, runner: runner, publisher: publisher, events: events,
                                    logger: Logger(component: "orchestrator", sink: sink))
    }

    static let threeNetworks = ["a", "b", "c"].map {
        NetworkDefinition(name: $0, defaultRule: DefaultRule(namespaces: ["default"]), config: bridgeConfig($0))
    }

    var store: StateStore { StateStore(directory: directory.path) }
}

@Suite struct OrchestratorTests {
    @Test func attachesInOrderAndRecords() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "s1"), deadline: farDeadline)

        #expect(harness.runner.calls.current == ["attach s1 a net1", "attach s1 b net2", "attach s1 c net3"])
        let record = try #require(try harness.store.load(sandboxID: "s1"))
        #expect(record.attachments.map(\.request.interface) == ["net1", "net2", "net3"])
        #expect(record.intent == nil)
        #expect(record.attachments.allSatisfy { $0.result != nil })
        #expect(record.attachments[0].request.cniArgs["K8S_POD_INFRA_CONTAINER_ID"] == "s1")
        #expect(record.attachments[0].request.netnsPath == "/proc/self/ns/net")
        #expect(harness.orchestrator.counters.attaches == 3)

        let patches = harness.publisher.patches.current
        #expect(patches.count == 1)
        #expect(patches.first?.0 == PodReference(namespace: "default", name: "web", uid: "uid-s1"))
        let status = try #require(patches.first?.1["k8s.v1.cni.cncf.io/network-status"])
        let list = try #require(try JSONValue(parsing: status).arrayValue)
        #expect(list.map { $0["interface"]?.stringValue } == ["eth0", "net1", "net2", "net3"])
        #expect(list[0]["default"] == true)
        #expect(harness.events.reasons == ["AddedInterface", "AddedInterface", "AddedInterface"])
    }

    @Test func rollbackAfterSecondOfThreeFails() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.failAttach.with { $0 = ["net2"] }

        let error = await #expect(throws: AttachError.self) {
            try await harness.orchestrator.runPodSandbox(makePod(id: "s2"), deadline: farDeadline)
        }
        #expect(harness.runner.calls.current == [
            "attach s2 a net1",
            "attach s2 b net2",
            "detach s2 b net2 intent",
            "detach s2 a net1 attached",
        ])
        #expect(error?.description == "pod \"default/web\" sandbox s2: failed to attach network \"b\" as \"net2\": fake attach failure on net2")
        #expect(try harness.store.load(sandboxID: "s2") == nil, "a fully rolled back sandbox leaves no record")
        #expect(harness.publisher.patches.current.isEmpty)
        #expect(harness.events.reasons == ["NetworkAttachFailed"])
        #expect(harness.orchestrator.counters.attachFailures == 1)
    }

    @Test func failedRollbackKeptForReconcile() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.failAttach.with { $0 = ["net3"] }
        harness.runner.failDetach.with { $0 = ["net1"] }

        let error = await #expect(throws: AttachError.self) {
            try await harness.orchestrator.runPodSandbox(makePod(id: "s3"), deadline: farDeadline)
        }
        #expect(error?.rollbackFailures == ["failed to detach network \"a\" as \"net1\": fake detach failure on net1"])
        let record = try #require(try harness.store.load(sandboxID: "s3"))
        #expect(record.attachments.map(\.request.interface) == ["net1"])
        #expect(record.intent == nil)

        harness.runner.failDetach.with { $0 = [] }
        await harness.orchestrator.synchronize(pods: [])
        #expect(try harness.store.load(sandboxID: "s3") == nil)
        #expect(harness.runner.calls.current.last == "detach s3 a net1 attached")
    }

    @Test func passedDeadlineRollsBack() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.attachDelay.with { $0 = .milliseconds(150) }
        await #expect(throws: AttachError.self) {
            try await harness.orchestrator.runPodSandbox(makePod(id: "s4"), deadline: .now + .milliseconds(100))
        }
        #expect(harness.runner.calls.current == ["attach s4 a net1", "detach s4 a net1 attached"])
        #expect(try harness.store.load(sandboxID: "s4") == nil)
    }

    @Test func selectionErrorFailsWithoutAttaching() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "s5", annotations: ["k8s.v1.cni.cncf.io/networks": "a@bad/name"])
        await #expect(throws: SelectionError.self) {
            try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        }
        #expect(harness.runner.calls.current.isEmpty)
        #expect(harness.events.reasons == ["NetworkSelectionFailed"])
    }

    @Test func unusableSandboxIDFails() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let error = await #expect(throws: AttachError.self) {
            try await harness.orchestrator.runPodSandbox(makePod(id: "../escape"), deadline: farDeadline)
        }
        #expect(error?.reason.contains("is not usable as a file name") == true)
        #expect(harness.runner.calls.current.isEmpty)
    }

    @Test func podWithoutNetworksLeftAlone() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "h1", namespace: "other", netns: nil), deadline: farDeadline)
        try await harness.orchestrator.runPodSandbox(makePod(id: "h2", namespace: "other"), deadline: farDeadline)
        #expect(harness.runner.calls.current.isEmpty)
        #expect(try harness.store.loadAll().records.isEmpty)
        #expect(harness.publisher.patches.current.isEmpty)
    }

    @Test func stopDetachesKeepsRecordRemoveDrops() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "s6")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)

        await harness.orchestrator.stopPodSandbox(pod, deadline: farDeadline)
        #expect(Array(harness.runner.calls.current.suffix(3)) == ["detach s6 c net3 attached", "detach s6 b net2 attached",
                                                                  "detach s6 a net1 attached"])
        let stopped = try #require(try harness.store.load(sandboxID: "s6"))
        #expect(stopped.stopped)
        #expect(stopped.attachments.isEmpty)

        await harness.orchestrator.removePodSandbox(pod, deadline: farDeadline)
        #expect(harness.runner.calls.current.count == 6, "remove after stop detaches nothing again")
        #expect(try harness.store.load(sandboxID: "s6") == nil)
    }

    @Test func stopContinuesPastFailures() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "s7")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        harness.runner.failDetach.with { $0 = ["net2"] }

        await harness.orchestrator.removePodSandbox(pod, deadline: farDeadline)
        #expect(harness.runner.calls.current.filter { $0.hasPrefix("detach") }.count == 3)
        let record = try #require(try harness.store.load(sandboxID: "s7"), "the record stays until every detach succeeded")
        #expect(record.attachments.map(\.request.interface) == ["net2"])
        #expect(harness.orchestrator.counters.detachFailures == 1)
        let detachLine = harness.logLines.current.first { $0.contains("detach failed") }
        #expect(detachLine?.contains("interface=net2") == true)

        harness.runner.failDetach.with { $0 = [] }
        await harness.orchestrator.synchronize(pods: [])
        #expect(try harness.store.load(sandboxID: "s7") == nil)
    }

    @Test func stopWithoutRecordDoesNothing() async {
        let harness = Harness()
        defer { harness.directory.remove() }
        await harness.orchestrator.stopPodSandbox(makePod(id: "unknown"), deadline: farDeadline)
        await harness.orchestrator.removePodSandbox(makePod(id: "unknown"), deadline: farDeadline)
        #expect(harness.runner.calls.current.isEmpty)
    }

    @Test func abandonedDetachesEverything() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "s8")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        await harness.orchestrator.abandoned(pod)
        #expect(harness.runner.calls.current.filter { $0.hasPrefix("detach") }.count == 3)
        #expect(try harness.store.load(sandboxID: "s8") == nil)
    }

    @Test func recordsSurviveRestart() async throws {
        let first = Harness()
        defer { first.directory.remove() }
        try await first.orchestrator.runPodSandbox(makePod(id: "r1"), deadline: farDeadline)

        var configuration = first.orchestrator.configuration
        configuration.networks = []
        let runner = FakeRunner()
        let restarted = Orchestrator(configuration: configuration, runner: runner)
        await restarted.removePodSandbox(makePod(id: "r1"), deadline: farDeadline)
        #expect(runner.calls.current == ["detach r1 c net3 attached", "detach r1 b net2 attached", "detach r1 a net1 attached"])
        #expect(try first.store.load(sandboxID: "r1") == nil)
    }

    @Test func reconcileCleansIntentOfLivePod() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "i1")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        var record = try #require(try harness.store.load(sandboxID: "i1"))
        let crashed = record.attachments.removeLast()
        record.intent = AttachmentRecord(request: crashed.request)
        try harness.store.save(record)

        await harness.orchestrator.synchronize(pods: [pod])
        let calls = harness.runner.calls.current
        #expect(calls.contains("detach i1 c net3 intent"))
        #expect(calls.last == "attach i1 c net3", "the missing network is attached again after the cleanup")
        let reconciled = try #require(try harness.store.load(sandboxID: "i1"))
        #expect(reconciled.intent == nil)
        #expect(reconciled.attachments.map(\.request.interface) == ["net1", "net2", "net3"])
        #expect(harness.orchestrator.counters.intentsCleaned == 1)
    }

    @Test func crashMidAttachOfVanishedPod() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        let pod = makePod(id: "v1")
        try await harness.orchestrator.runPodSandbox(pod, deadline: farDeadline)
        var record = try #require(try harness.store.load(sandboxID: "v1"))
        let crashed = record.attachments.removeLast()
        record.intent = AttachmentRecord(request: crashed.request)
        try harness.store.save(record)
        let before = harness.runner.calls.current.count

        await harness.orchestrator.synchronize(pods: [])
        let calls = Array(harness.runner.calls.current.dropFirst(before))
        #expect(calls == ["detach v1 c net3 intent", "detach v1 b net2 attached", "detach v1 a net1 attached"])
        #expect(try harness.store.load(sandboxID: "v1") == nil)
    }

    @Test func removeTouchesOnlyItsSandbox() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "keep"), deadline: farDeadline)
        try await harness.orchestrator.runPodSandbox(makePod(id: "drop"), deadline: farDeadline)
        let before = harness.runner.calls.current.count

        await harness.orchestrator.removePodSandbox(makePod(id: "drop"), deadline: farDeadline)
        let calls = harness.runner.calls.current.dropFirst(before)
        #expect(calls.allSatisfy { $0.hasPrefix("detach drop ") })
        #expect(calls.count == 3)
        #expect(try harness.store.load(sandboxID: "keep")?.attachments.count == 3)
    }

    @Test func reconcileDetachesVanishedSandboxes() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "gone"), deadline: farDeadline)
        try await harness.orchestrator.runPodSandbox(makePod(id: "alive"), deadline: farDeadline)
        let before = harness.runner.calls.current.count

        await harness.orchestrator.synchronize(pods: [makePod(id: "alive")])
        let calls = Array(harness.runner.calls.current.dropFirst(before))
        #expect(calls == ["detach gone c net3 attached", "detach gone b net2 attached", "detach gone a net1 attached"])
        #expect(try harness.store.load(sandboxID: "gone") == nil)
        #expect(try harness.store.load(sandboxID: "alive") != nil)
    }

    @Test func reconcileAttachesPodsStartedWhileAway() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        await harness.orchestrator.synchronize(pods: [makePod(id: "m1"), makePod(id: "m2", namespace: "other")])
        #expect(harness.runner.calls.current == ["attach m1 a net1", "attach m1 b net2", "attach m1 c net3"])
        #expect(try harness.store.load(sandboxID: "m1")?.attachments.count == 3)
        #expect(harness.publisher.patches.current.count == 1)
    }

    @Test func reconcileSkipsPodWithoutNamespaceFile() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        await harness.orchestrator.synchronize(pods: [makePod(id: "m4", netns: harness.directory.path + "/no-such-netns")])
        #expect(harness.runner.calls.current.isEmpty)
        #expect(try harness.store.load(sandboxID: "m4") == nil)
    }

    @Test func reconcileReportsMissingWhenAttachDisabled() async throws {
        let harness = Harness(attachMissing: false)
        defer { harness.directory.remove() }
        await harness.orchestrator.synchronize(pods: [makePod(id: "m3")])
        #expect(harness.runner.calls.current.isEmpty)
        #expect(harness.events.reasons == ["NetworksMissing"])
        #expect(harness.events.events.current.first?.3 == "Pod started while Hydra was not running and lacks: a as net1, b as net2, c as net3")
    }

    @Test func reconcileReportsUnreadableRecord() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try FileManager.default.createDirectory(atPath: harness.directory.path + "/sandboxes", withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: harness.directory.path + "/sandboxes/u1.json"))

        await harness.orchestrator.synchronize(pods: [makePod(id: "u1")])
        #expect(harness.runner.calls.current.isEmpty, "a pod whose record is unreadable is not attached twice")
        #expect(harness.events.reasons == ["NetworkRecordUnreadable"])
        #expect(harness.orchestrator.counters.unreadableRecords == 1)
        let unreadableLine = harness.logLines.current.first { $0.contains("sandbox record unreadable") }
        #expect(unreadableLine?.contains("sandbox=u1") == true)
        #expect(harness.store.unreadableFiles().count == 1)
    }

    @Test func reconcileBeforeSynchronizeDoesNothing() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.runPodSandbox(makePod(id: "p1"), deadline: farDeadline)
        await harness.orchestrator.reconcile()
        #expect(harness.orchestrator.counters.reconcilePasses == 0)
        #expect(try harness.store.load(sandboxID: "p1") != nil)
    }

    @Test func periodicPassDetachesVanished() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.configure(runtimeConfig: """
            {"stateDir": "\(harness.directory.path)", "reconcile": {"intervalSeconds": 1},
             "networks": [{"name": "a", "default": {"namespaces": ["default"]}, "config": {"type": "bridge"}}]}
            """)
        await harness.orchestrator.synchronize(pods: [])
        try await harness.orchestrator.runPodSandbox(makePod(id: "p4"), deadline: farDeadline)
        // p5's record appears after the Synchronize, as if the runtime
        // dropped the sandbox without a RemovePodSandbox.
        try harness.store.save(SandboxRecord(sandboxID: "p5", pod: PodReference(namespace: "d", name: "x", uid: "u"),
                                             netnsPath: "/proc/self/ns/net",
                                             attachments: try #require(try harness.store.load(sandboxID: "p4")).attachments))
        let passes = harness.orchestrator.counters.reconcilePasses
        let periodic = Task { await harness.orchestrator.runPeriodicReconcile() }
        defer { periodic.cancel() }
        for _ in 0..<40 where try harness.store.load(sandboxID: "p5") != nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try harness.store.load(sandboxID: "p5") == nil)
        #expect(try harness.store.load(sandboxID: "p4") != nil, "a sandbox attached since the Synchronize is kept")
        #expect(harness.orchestrator.counters.reconcilePasses > passes)
    }

    @Test func sameSandboxSerialized() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.attachDelay.with { $0 = .milliseconds(50) }
        let pod = makePod(id: "x1")
        let orchestrator = harness.orchestrator
        async let run: Void = orchestrator.runPodSandbox(pod, deadline: farDeadline)
        while harness.runner.calls.current.isEmpty {
            try await Task.sleep(for: .milliseconds(5))
        }
        async let stop: Void = orchestrator.stopPodSandbox(pod, deadline: farDeadline)
        _ = try await (run, stop)
        let calls = harness.runner.calls.current
        #expect(calls == ["attach x1 a net1", "attach x1 b net2", "attach x1 c net3",
                          "detach x1 c net3 attached", "detach x1 b net2 attached", "detach x1 a net1 attached"])
        #expect(harness.runner.running.current.max == 1)
    }

    @Test func differentSandboxesConcurrent() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.attachDelay.with { $0 = .milliseconds(100) }
        let orchestrator = harness.orchestrator
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<4 {
                group.addTask { try await orchestrator.runPodSandbox(makePod(id: "c\(index)"), deadline: farDeadline) }
            }
            try await group.waitForAll()
        }
        #expect(harness.runner.running.current.max > 1)
        #expect(try harness.store.loadAll().records.count == 4)
    }

    @Test func defaultEntryFromInspector() async throws {
        struct FakeInspector: DefaultInterfaceInspector {
            func inspect(netnsPath: String, interface: String) async throws -> (ips: [String], mac: String?) {
                (["10.0.0.9/24"], "02:00:00:00:00:99")
            }
        }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var configuration = HydraConfiguration()
        configuration.stateDir = directory.path
        configuration.networks = [Harness.threeNetworks[0]]
        let publisher = RecordingPublisher()
        let orchestrator = Orchestrator(configuration: configuration, runner: FakeRunner(), publisher: publisher,
                                        inspector: FakeInspector())
        try await orchestrator.runPodSandbox(makePod(id: "old-runtime", ips: []), deadline: farDeadline)
        for _ in 0..<200 where publisher.patches.current.isEmpty {
            try await Task.sleep(for: .milliseconds(10))
        }
        let status = try #require(publisher.patches.current.first?.1["k8s.v1.cni.cncf.io/network-status"])
        let first = try #require(try JSONValue(parsing: status)[0])
        #expect(first == ["name": "default", "interface": "eth0", "ips": ["10.0.0.9"], "mac": "02:00:00:00:00:99", "default": true])
    }

    @Test func configureReplacesConfiguration() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        try await harness.orchestrator.configure(runtimeConfig: #"{"stateDir": "\#(harness.directory.path)", "networks": []}"#)
        #expect(harness.orchestrator.configuration.networks.isEmpty)
        try await harness.orchestrator.runPodSandbox(makePod(id: "k1"), deadline: farDeadline)
        #expect(harness.runner.calls.current.isEmpty)
        await #expect(throws: ConfigurationError.self) {
            try await harness.orchestrator.configure(runtimeConfig: #"{"stateDir": 1}"#)
        }
    }
}
