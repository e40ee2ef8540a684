import FakeAPIServerKit
import Foundation
import Testing
@testable import Kubernetes

@Suite("NetworkAttachmentDefinitionCache")
struct NetworkAttachmentDefinitionCacheTests {
    private func makeCache(_ client: KubernetesClient, namespace: String? = nil,
                           lookupTimeout: Duration = .milliseconds(500)) -> NetworkAttachmentDefinitionCache {
        NetworkAttachmentDefinitionCache(client: client, namespace: namespace, logger: testLogger("nad-cache-test"),
                                         lookupTimeout: lookupTimeout, backoff: fastBackoff)
    }

    @Test("cache lists, then follows the watch")
    func listAndWatch() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let config = #"{"cniVersion":"1.0.0","type":"macvlan","master":"eth0"}"#
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: config)
        let cache = makeCache(client)
        await cache.start()
        defer { Task { await cache.stop() } }

        #expect(await waitUntil { await cache.isSynced })
        server.clearReceivedRequests()
        let blue = try await cache.lookup(namespace: "ns1", name: "blue")
        #expect(blue == NetworkAttachmentDefinitionEntry(namespace: "ns1", name: "blue", config: config))
        #expect(server.receivedRequests().filter { !$0.query.contains("watch=true") }.isEmpty,
                "a cached lookup must not call the API server")

        try server.putNetworkAttachmentDefinition(namespace: "ns2", name: "green", config: "{}")
        #expect(await waitUntil { await cache.count == 2 })
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: #"{"type":"bridge"}"#)
        #expect(try await waitUntil { try await cache.lookup(namespace: "ns1", name: "blue")?.config == #"{"type":"bridge"}"# })

        server.deleteNetworkAttachmentDefinition(namespace: "ns1", name: "blue")
        #expect(await waitUntil { await cache.count == 1 })
        #expect(try await cache.lookup(namespace: "ns1", name: "blue") == nil)
    }

    @Test("cache relists after the watch fails")
    func relistAfterFailure() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let cache = makeCache(client, namespace: "ns1")
        await cache.start()
        defer { Task { await cache.stop() } }
        #expect(await waitUntil { await cache.isSynced })

        // Dropping every connection ends the watch, so the cache must list and watch again.
        try server.setDown(true)
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "late", config: "{}")
        try await Task.sleep(for: .milliseconds(200))
        try server.setDown(false)

        #expect(await waitUntil { await cache.count == 1 })
        server.clearReceivedRequests()
        #expect(try await cache.lookup(namespace: "ns1", name: "late")?.config == "{}")
        #expect(server.receivedRequests().filter { !$0.query.contains("watch=true") }.isEmpty)
    }

    @Test("miss falls back to a GET")
    func lookupOnDemand() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: "{}")
        let cache = makeCache(client)

        let blue = try await cache.lookup(namespace: "ns1", name: "blue")
        #expect(blue?.name == "blue")
        #expect(try await cache.lookup(namespace: "ns1", name: "missing") == nil)
        let gets = server.receivedRequests().filter { $0.method == "GET" }
        #expect(gets.count == 2)

        // The first lookup was stored, so a second one stays in memory.
        _ = try await cache.lookup(namespace: "ns1", name: "blue")
        #expect(server.receivedRequests().count == 2)
    }

    @Test("miss waits no longer than the lookup timeout")
    func lookupTimeout() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: "{}")
        server.addFault(FaultRule(method: "GET", action: .delay(seconds: 3), count: 1))
        let cache = makeCache(client, lookupTimeout: .milliseconds(200))

        let start = Date()
        await #expect(throws: KubernetesError.self) {
            _ = try await cache.lookup(namespace: "ns1", name: "blue")
        }
        #expect(Date().timeIntervalSince(start) < 1.5)
    }
}
