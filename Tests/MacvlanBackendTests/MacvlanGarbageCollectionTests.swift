import BackendTestSupport
import BackendSDK
import CNI
import Foundation
import Glibc
import MacvlanNetwork
import NetworkSetup
import Testing

/// Runs `body` on a thread of its own and resumes when it returns, so that
/// blocking kernel and file work stays off the cooperative thread pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

// The kernel and file work runs on a thread of its own, and each test
// checks what it returns, so that every expectation is recorded in the
// test's own task.
@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanGCDetachesUnlistedAttachment() async throws {
    let (droppedPresent, keptPresent, reserved, remaining) = try await onThread {
        () throws -> (Bool, Bool, [String], [String]) in
        let fixture = try MacvlanFixture()
        let statePath = "/tmp/hydra-state-test-\(randomSuffix(10))"
        defer { _ = try? runCommand("/bin/rm", ["-rf", statePath]) }
        let records = AttachmentRecords(stateDirectory: statePath)
        let keptPod = try TestNamespace("hypod")
        let droppedPod = try TestNamespace("hypod")
        let kept = try makeRequest(fixture.config(), netns: keptPod.path, sandboxID: "mv-gc-kept")
        let dropped = try makeRequest(fixture.config(), netns: droppedPod.path, sandboxID: "mv-gc-dropped")
        try records.save(kept, result: try fixture.plugin.add(kept))
        try records.save(dropped, result: try fixture.plugin.add(dropped))
        defer { try? fixture.plugin.del(kept) }

        let request = GCRequest(validAttachments: [AttachmentID(sandboxID: "mv-gc-kept", networkName: fixture.network, ifName: "net1")])
        try records.collectGarbage(keeping: request, startedAt: Date().addingTimeInterval(1), deadline: .after(seconds: 10)) {
            try fixture.plugin.del($0)
        }

        return (droppedPod.ipLink("net1") != nil, keptPod.ipLink("net1") != nil,
                fixture.data.reservedAddresses(network: fixture.network),
                records.list().records.map(\.request.sandboxID))
    }

    #expect(!droppedPresent)
    #expect(keptPresent)
    #expect(reserved == ["10.40.0.10"])
    #expect(remaining == ["mv-gc-kept"])
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func macvlanAttachPastDeadlineLeavesNothing() async throws {
    let (caught, interfacePresent, reserved) = try await onThread { () throws -> (CNIError?, Bool, [String]) in
        let fixture = try MacvlanFixture()
        let pod = try TestNamespace("hypod")
        let request = try makeRequest(fixture.config(), netns: pod.path, sandboxID: "mv-late")
        let expired = Deadline(monotonicNanoseconds: Deadline.now() - 1_000_000)

        var caught: CNIError?
        do {
            _ = try fixture.plugin.add(request, deadline: expired)
        } catch let error as CNIError {
            caught = error
        }
        return (caught, pod.ipLink("net1") != nil, fixture.data.reservedAddresses(network: fixture.network))
    }

    #expect(caught?.code == CNIError.tryAgainLater)
    #expect(!interfacePresent)
    #expect(reserved.isEmpty)
}
