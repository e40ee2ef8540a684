import EtcdTestSupport
import Etcd
import Foundation
import Testing

@Suite(.serialized) struct EtcdClientTests {
    @Test func kvPutRangeDelete() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))

            let revision = try client.put("/t/a", value: Data("one".utf8))
            #expect(revision > 0)
            try client.put("/t/b/ü", value: Data([0, 255, 10]))
            try client.put("/u", value: Data("other".utf8))

            let single = try client.range("/t/a")
            #expect(single.kvs.count == 1)
            #expect(single.kvs.first?.stringValue == "one")
            #expect(single.kvs.first?.version == 1)
            #expect(single.revision >= revision)

            let prefixed = try client.range("/t/", prefix: true)
            #expect(prefixed.kvs.map(\.key) == ["/t/a", "/t/b/ü"])
            #expect(prefixed.kvs.last?.value == Data([0, 255, 10]))

            #expect(try client.range("/missing").kvs.isEmpty)
            #expect(try client.delete("/t/", prefix: true) == 2)
            #expect(try client.range("/t/", prefix: true).kvs.isEmpty)
            #expect(try client.range("/u").kvs.count == 1)
        }
    }

    @Test func txnCreatesOnlyWhenAbsent() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))

            #expect(try client.putIfVersion("/k", value: Data("first".utf8), expectedVersion: 0))
            #expect(try !client.putIfVersion("/k", value: Data("second".utf8), expectedVersion: 0))
            #expect(try client.range("/k").kvs.first?.stringValue == "first")
            #expect(try client.putIfVersion("/k", value: Data("third".utf8), expectedVersion: 1))
            #expect(try client.range("/k").kvs.first?.version == 2)
        }
    }

    @Test func leaseGrantKeepAliveRevoke() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))

            let lease = try client.grantLease(ttl: 600)
            #expect(lease.id != 0)
            #expect(lease.ttl == 600)
            try client.put("/leased", value: Data("x".utf8), lease: lease.id)
            #expect(try client.range("/leased").kvs.first?.lease == lease.id)

            let renewed = try client.keepAlive(leaseID: lease.id)
            #expect(renewed.id == lease.id)
            #expect(renewed.ttl == 600)

            try client.revokeLease(id: lease.id)
            #expect(try client.range("/leased").kvs.isEmpty)
            #expect(try client.keepAlive(leaseID: lease.id).ttl <= 0)
        }
    }

    @Test func leaseExpiryDeletesKey() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))
            let lease = try client.grantLease(ttl: 2)
            try client.put("/short", value: Data("x".utf8), lease: lease.id)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, try !client.range("/short").kvs.isEmpty {
                Thread.sleep(forTimeInterval: 0.2)
            }
            #expect(try client.range("/short").kvs.isEmpty)
        }
    }

    @Test func watchReportsPutAndDelete() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))
            let start = try client.range("/w/", prefix: true).revision

            let writer = Thread {
                Thread.sleep(forTimeInterval: 0.3)
                _ = try? client.put("/w/a", value: Data("1".utf8))
                _ = try? client.put("/x/ignored", value: Data("2".utf8))
                _ = try? client.delete("/w/a")
            }
            writer.start()

            final class Box: @unchecked Sendable { var events: [EtcdEvent] = [] }
            let box = Box()
            try client.watch(prefix: "/w/", startRevision: start + 1, cancellation: EtcdCancellation()) { events, _ in
                box.events += events
                return box.events.count < 2
            }
            #expect(box.events.map(\.kind) == [.put, .delete])
            #expect(box.events.map(\.kv.key) == ["/w/a", "/w/a"])
            #expect(box.events.first?.kv.stringValue == "1")
        }
    }

    @Test func watchFromCompactedRevisionThrows() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))
            let first = try client.put("/c/a", value: Data("1".utf8))
            try client.put("/c/a", value: Data("2".utf8))
            let last = try client.put("/c/a", value: Data("3".utf8))
            try client.compact(revision: last)

            #expect(throws: EtcdError.self) {
                try client.watch(prefix: "/c/", startRevision: first, cancellation: EtcdCancellation()) { _, _ in true }
            }
            do {
                try client.watch(prefix: "/c/", startRevision: first, cancellation: EtcdCancellation()) { _, _ in true }
            } catch EtcdError.compacted(let revision) {
                #expect(revision == last)
            }
        }
    }

    @Test func watchStopsOnCancellation() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [server.endpoint]))
            let cancellation = EtcdCancellation()
            let canceller = Thread {
                Thread.sleep(forTimeInterval: 0.5)
                cancellation.cancel()
            }
            canceller.start()
            let started = Date()
            #expect(throws: EtcdError.self) {
                try client.watch(prefix: "/idle/", startRevision: 0, cancellation: cancellation) { _, _ in true }
            }
            #expect(Date().timeIntervalSince(started) < 5)
        }
    }

    @Test func failoverToSecondEndpoint() async throws {
        try await offPool {
            let server = try EtcdServer()
            defer { server.stop() }
            // A port nothing listens on: bound by the kernel once, then released.
            let dead = "http://127.0.0.1:\(freeLoopbackPort())"
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [dead, server.endpoint]))
            #expect(client.currentEndpoint == dead)
            try client.put("/f", value: Data("v".utf8))
            #expect(client.currentEndpoint == server.endpoint)
            #expect(try client.range("/f").kvs.first?.stringValue == "v")
        }
    }

    @Test func allEndpointsDownIsUnavailable() async throws {
        try await offPool {
            let dead = "http://127.0.0.1:\(freeLoopbackPort())"
            let client = try EtcdClient(configuration: EtcdConfiguration(endpoints: [dead]))
            do {
                _ = try client.range("/x")
                Issue.record("range succeeded without a server")
            } catch let error as EtcdError {
                #expect(error.isTransient)
                #expect(error.description.contains(dead))
            }
        }
    }

    @Test func tlsWithClientCertificate() async throws {
        try await offPool {
            let certificates = try TestCertificates.make()
            defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
            let server = try EtcdServer(tls: certificates)
            defer { server.stop() }

            let client = try EtcdClient(configuration: EtcdConfiguration(
                endpoints: [server.endpoint], caFile: certificates.caFile,
                certFile: certificates.clientCert, keyFile: certificates.clientKey))
            try client.put("/tls", value: Data("secure".utf8))
            #expect(try client.range("/tls").kvs.first?.stringValue == "secure")
            let lease = try client.grantLease(ttl: 60)
            #expect(try client.keepAlive(leaseID: lease.id).ttl == 60)

            let withoutCertificate = try EtcdClient(configuration: EtcdConfiguration(
                endpoints: [server.endpoint], caFile: certificates.caFile))
            #expect(throws: EtcdError.self) { _ = try withoutCertificate.range("/tls") }

            let withoutCA = try EtcdClient(configuration: EtcdConfiguration(
                endpoints: [server.endpoint], certFile: certificates.clientCert, keyFile: certificates.clientKey))
            #expect(throws: EtcdError.self) { _ = try withoutCA.range("/tls") }
        }
    }
}
