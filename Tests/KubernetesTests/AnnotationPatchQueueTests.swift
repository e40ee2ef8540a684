import FakeAPIServerKit
import Foundation
import Testing
@testable import Kubernetes

@Suite("AnnotationPatchQueue")
struct AnnotationPatchQueueTests {
    private func makeQueue(_ client: KubernetesClient, capacity: Int = 16) -> AnnotationPatchQueue {
        AnnotationPatchQueue(client: client, logger: testLogger("annotation-queue-test"), backoff: fastBackoff,
                             capacity: capacity)
    }

    private func patchRequests(_ server: FakeAPIServer) -> [RecordedRequest] {
        server.receivedRequests().filter { $0.method == "PATCH" }
    }

    @Test("queue applies a patch after checking the UID")
    func appliesPatch() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["status": "ok"])
        let methods = server.receivedRequests().map(\.method)
        #expect(methods == ["GET", "PATCH"])
        let statistics = await queue.currentStatistics()
        #expect(statistics.applied == 1)
        #expect(statistics.depth == 0)
    }

    @Test("submit keeps order without awaiting")
    func submitKeepsOrder() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        let queue = makeQueue(client)

        queue.submit(namespace: "ns1", name: "web", uid: uid, annotations: ["a": "1"])
        queue.submit(namespace: "ns1", name: "web", uid: uid, annotations: ["a": "2"])
        #expect(await waitUntil { server.podAnnotations(namespace: "ns1", name: "web") == ["a": "2"] })
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["a": "2"])
    }

    @Test("queue retries 503 then succeeds")
    func retriesServerErrors() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        server.addFault(FaultRule(method: "PATCH", action: .status(code: 503), count: 2))
        server.addFault(FaultRule(method: "GET", action: .status(code: 500), count: 1))
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["status": "ok"])
        let statistics = await queue.currentStatistics()
        #expect(statistics.retries == 3)
        #expect(statistics.applied == 1)
        #expect(statistics.dropped == 0)
        #expect(patchRequests(server).map(\.status) == [503, 503, 200])
    }

    @Test("queue retries while the server is down")
    func retriesWhileDown() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        try server.setDown(true)
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        let retried = await waitUntil(seconds: 5) { await queue.currentStatistics().retries >= 3 }
        #expect(retried)
        #expect(await queue.currentStatistics().depth == 1)

        try server.setDown(false)
        await queue.waitUntilIdle()
        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["status": "ok"])
        #expect(await queue.currentStatistics().applied == 1)
    }

    @Test("queue retries after a 409 conflict")
    func retriesConflict() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        server.addFault(FaultRule(method: "PATCH", action: .status(code: 409), count: 1))
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["status": "ok"])
        #expect(server.receivedRequests().map(\.method) == ["GET", "PATCH", "GET", "PATCH"])
        #expect(await queue.currentStatistics().retries == 1)
    }

    @Test("queue drops a patch the API server rejects")
    func dropsOnRejection() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        server.addFault(FaultRule(method: "PATCH", action: .status(code: 403), count: 1))
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web").isEmpty)
        let statistics = await queue.currentStatistics()
        #expect(statistics.dropped == 1)
        #expect(statistics.retries == 0)
    }

    @Test("queue drops a patch on UID mismatch")
    func dropsOnUIDMismatch() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: "uid-of-an-older-pod", annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web").isEmpty)
        #expect(patchRequests(server).isEmpty)
        let statistics = await queue.currentStatistics()
        #expect(statistics.dropped == 1)
        #expect(statistics.applied == 0)
    }

    @Test("queue drops a patch when the pod is gone")
    func dropsOnNotFound() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "gone", uid: "some-uid", annotations: ["status": "ok"])
        await queue.waitUntilIdle()

        #expect(patchRequests(server).isEmpty)
        #expect(await queue.currentStatistics().dropped == 1)
    }

    @Test("queue drops when the pod is replaced between GET and PATCH")
    func dropsOnReplacedPod() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        // The PATCH fails once with 503, and meanwhile the pod is recreated with a new UID.
        server.addFault(FaultRule(method: "PATCH", action: .status(code: 503), count: 1))
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["status": "ok"])
        _ = await waitUntil(seconds: 5) { !patchRequests(server).isEmpty }
        server.deletePod(namespace: "ns1", name: "web")
        try server.createPod(namespace: "ns1", name: "web")
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web").isEmpty)
        #expect(await queue.currentStatistics().dropped == 1)
    }

    @Test("queue coalesces patches for one pod")
    func coalesces() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web", annotations: ["old": "x"])
        let otherUID = try server.createPod(namespace: "ns1", name: "db")
        try server.setDown(true)
        let queue = makeQueue(client)

        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["a": "1", "b": "1"])
        await queue.enqueue(namespace: "ns1", name: "db", uid: otherUID, annotations: ["d": "1"])
        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["b": "2", "c": "2"])
        await queue.enqueue(namespace: "ns1", name: "web", uid: uid, annotations: ["old": nil])
        #expect(await queue.currentStatistics().depth == 2)
        try server.setDown(false)
        await queue.waitUntilIdle()

        #expect(server.podAnnotations(namespace: "ns1", name: "web") == ["a": "1", "b": "2", "c": "2"])
        #expect(server.podAnnotations(namespace: "ns1", name: "db") == ["d": "1"])
        let patches = patchRequests(server)
        #expect(patches.count == 2)
        #expect(patches.filter { $0.path.hasSuffix("/web") }.count == 1)
        let statistics = await queue.currentStatistics()
        #expect(statistics.coalesced >= 1)
        #expect(statistics.applied == 2)
    }

    @Test("full queue drops the oldest pod")
    func capacity() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        var uids: [String: String] = [:]
        for name in ["p1", "p2", "p3", "p4"] {
            uids[name] = try server.createPod(namespace: "ns1", name: name)
        }
        try server.setDown(true)
        let queue = makeQueue(client, capacity: 2)

        // p1 is being retried, so p2 is the oldest waiting patch when p4 arrives.
        // When p1 waits in the queue during its backoff, it is dropped first.
        await queue.enqueue(namespace: "ns1", name: "p1", uid: uids["p1"]!, annotations: ["a": "1"])
        _ = await waitUntil(seconds: 5) { await queue.currentStatistics().retries >= 1 }
        for name in ["p2", "p3", "p4"] {
            await queue.enqueue(namespace: "ns1", name: name, uid: uids[name]!, annotations: ["a": "1"])
        }
        let statistics = await queue.currentStatistics()
        #expect(statistics.overflowed >= 1)
        #expect(statistics.depth <= 3)

        try server.setDown(false)
        await queue.waitUntilIdle()
        #expect(server.podAnnotations(namespace: "ns1", name: "p3") == ["a": "1"])
        #expect(server.podAnnotations(namespace: "ns1", name: "p4") == ["a": "1"])
        #expect(server.podAnnotations(namespace: "ns1", name: "p2").isEmpty)
    }

    @Test("backoff doubles up to the maximum")
    func backoff() {
        let backoff = RetryBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.delay(afterFailures: 1) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 2) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 4) == .milliseconds(800))
        #expect(backoff.delay(afterFailures: 5) == .seconds(1))
        #expect(backoff.delay(afterFailures: 60) == .seconds(1))
    }
}
