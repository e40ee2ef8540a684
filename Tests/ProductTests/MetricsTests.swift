import Foundation
@testable import Metrics
import Testing

@Suite struct ExpositionTests {
    @Test func counterWithEscapedLabels() {
        let registry = MetricsRegistry()
        let counter = registry.counter("demo_total", help: "Demo \\ counter\nsecond line.", labels: ["network"])
        counter.increment(["a\"b\\c\nd"])
        counter.increment(["a\"b\\c\nd"], by: 2)
        let text = registry.render()
        #expect(text.contains("# HELP demo_total Demo \\\\ counter\\nsecond line.\n"))
        #expect(text.contains("# TYPE demo_total counter\n"))
        #expect(text.contains("demo_total{network=\"a\\\"b\\\\c\\nd\"} 3\n"))
    }

    @Test func unlabelledFamiliesStartAtZero() {
        let registry = MetricsRegistry()
        _ = registry.gauge("depth", help: "Depth.")
        _ = registry.gauge("labelled", help: "Labelled.", labels: ["x"])
        let text = registry.render()
        #expect(text.contains("\ndepth 0\n"))
        #expect(!text.contains("labelled{"))
    }

    @Test func histogramBucketsAreCumulative() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("latency_seconds", help: "Latency.", labels: ["backend"], buckets: [0.1, 1])
        histogram.observe(["bridge"], 0.05)
        histogram.observe(["bridge"], 0.5)
        histogram.observe(["bridge"], 3)
        let text = registry.render()
        #expect(text.contains("latency_seconds_bucket{backend=\"bridge\",le=\"0.1\"} 1\n"))
        #expect(text.contains("latency_seconds_bucket{backend=\"bridge\",le=\"1\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{backend=\"bridge\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("latency_seconds_sum{backend=\"bridge\"} 3.55\n"))
        #expect(text.contains("latency_seconds_count{backend=\"bridge\"} 3\n"))
    }

    @Test func counterSetNeverDecreases() {
        let registry = MetricsRegistry()
        let counter = registry.counter("copied_total", help: "Copied.")
        counter.set(total: 5)
        counter.set(total: 3)
        #expect(counter.value() == 5)
    }

    @Test func collectorsRunBeforeRendering() {
        let registry = MetricsRegistry()
        let gauge = registry.gauge("sampled", help: "Sampled.")
        registry.addCollector { gauge.set(42) }
        #expect(registry.render().contains("\nsampled 42\n"))
    }
}

@Suite struct EndpointTests {
    /// Starts a server on a kernel-picked loopback port.
    func startServer(ready: @escaping @Sendable () -> String? = { nil }) throws -> (MetricsServer, ListenAddress) {
        let registry = MetricsRegistry()
        registry.counter("served_total", help: "Served.").increment()
        let server = try MetricsServer(address: try ListenAddress("127.0.0.1:0"), registry: registry,
                                       sources: EndpointSources(notReadyReason: ready, statusJSON: { "{\"ok\":true}" }))
        #expect(server.boundPort != 0)
        return (server, try ListenAddress("127.0.0.1:\(server.boundPort)"))
    }

    @Test func servesEveryPath() async throws {
        let (server, address) = try startServer()
        defer { server.stop() }

        let metrics = try await EndpointClient.get(address, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("\nserved_total 1\n"))
        let health = try await EndpointClient.get(address, path: "/healthz")
        #expect(health.status == 200)
        let ready = try await EndpointClient.get(address, path: "/readyz")
        #expect(ready.status == 200)
        let status = try await EndpointClient.get(address, path: "/status")
        #expect(status.status == 200)
        #expect(status.body == "{\"ok\":true}\n")
        let missing = try await EndpointClient.get(address, path: "/nothing")
        #expect(missing.status == 404)
    }

    @Test func readyzReportsTheReason() async throws {
        let (server, address) = try startServer(ready: { "NRI connection is connecting" })
        defer { server.stop() }
        let ready = try await EndpointClient.get(address, path: "/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("NRI connection is connecting"))
    }

    @Test func stopClosesTheListener() async throws {
        let (server, address) = try startServer()
        server.stop()
        await #expect(throws: MetricsServerError.self) {
            _ = try await EndpointClient.get(address, path: "/healthz")
        }
    }

    @Test func takenAddressFailsToStart() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        #expect(throws: MetricsServerError.startFailed(address.description)) {
            _ = try MetricsServer(address: address, registry: MetricsRegistry(), sources: EndpointSources())
        }
    }

    @Test func invalidAddressesAreRejected() {
        for text in ["127.0.0.1", "127.0.0.1:http", ":9740"] {
            #expect(throws: MetricsServerError.self, "\(text) was accepted") { _ = try ListenAddress(text) }
        }
        #expect((try? ListenAddress("[::1]:9740"))?.isIPv6 == true)
    }
}
