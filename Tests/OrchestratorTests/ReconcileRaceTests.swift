import Foundation
import Testing
@testable import Orchestrator

@Suite struct ReconcileRaceTests {
    /// The Synchronize response goes out before its reconcile pass runs, so a pod removed
    /// while the pass still attaches earlier pods must not be attached by it.
    @Test func reconcileSkipsPodRemovedDuringPass() async throws {
        let harness = Harness()
        defer { harness.directory.remove() }
        harness.runner.attachDelay.with { $0 = .milliseconds(200) }
        let first = makePod(id: "p1")
        let removed = makePod(id: "p2")

        let pass = Task { await harness.orchestrator.synchronize(pods: [first, removed]) }
        try await Task.sleep(for: .milliseconds(100))
        await harness.orchestrator.removePodSandbox(removed, deadline: farDeadline)
        await pass.value

        let calls = harness.runner.calls.current
        #expect(calls == ["attach p1 a net1", "attach p1 b net2", "attach p1 c net3"])
        #expect(try harness.store.load(sandboxID: "p2") == nil)
    }
}
