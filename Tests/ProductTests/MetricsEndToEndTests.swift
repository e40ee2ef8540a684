import Foundation
@testable import Metrics
import Testing

/// `hydra run` with the bridge backend, driven by `hydra-nri-sim`: the
/// metrics, health and status endpoints and `hydra status`, scraped while
/// a pod is attached and after it stopped.
@Suite struct MetricsEndToEndTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func endpointsDuringPodLifecycle() async throws {
        let binaries = try binaryDirectory(requiring: ["hydra", "hydra-nri-sim", "hydra-fake-apiserver",
                                                       "libhydra-backend-bridge.so"])
        let token = String(format: "%06x", UInt32.random(in: 0...0xff_ffff))
        let namespace = "hp-\(token)"
        let bridge = "hpb\(token)"
        let network = "prod\(token)"
        let subnetPrefix = "10.\(Int.random(in: 200...249)).\(Int.random(in: 0...255))."
        let port = try freeLoopbackPort()
        let address = try ListenAddress("127.0.0.1:\(port)")

        try await withTemporaryDirectory { work in
            _ = try await run("ip", ["netns", "add", namespace], in: work)
            var processes: [Child] = []
            var failure: (any Error)?
            do {
                _ = try await run("ip", ["-n", namespace, "link", "set", "lo", "up"], in: work)

                // A fake API server holding the pod, reached with a bearer
                // token that must never appear in Hydra's log.
                let secret = "hydra-test-token-\(token)-\(UInt64.random(in: 0...UInt64.max))"
                try secret.write(toFile: work + "/token", atomically: true, encoding: .utf8)
                let seed = #"{"pods": [{"metadata": {"name": "p-\#(token)", "namespace": "default", "uid": "uid-\#(token)"}}]}"#
                try seed.write(toFile: work + "/seed.json", atomically: true, encoding: .utf8)
                let apiServer = try Child(binaries + "/hydra-fake-apiserver",
                                          ["--listen", "127.0.0.1:0", "--seed", work + "/seed.json",
                                           "--print-url-file", work + "/api-url"],
                                          outputPath: work + "/api.out", errorPath: work + "/api.err")
                processes.append(apiServer)
                #expect(await eventually { !((try? String(contentsOfFile: work + "/api-url", encoding: .utf8)) ?? "").isEmpty })
                let apiURL = try String(contentsOfFile: work + "/api-url", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let apiAddress = try ListenAddress(String(apiURL.dropFirst("http://".count)))

                let configuration = """
                {"nri": {"socket": "\(work)/nri.sock", "pluginName": "hydra-\(token)", "pluginIndex": "50"},
                 "backends": {"dir": "\(binaries)", "load": [{"name": "bridge", "required": true}]},
                 "stateDir": "\(work)/state",
                 "networks": [{"name": "\(network)", "interface": "hydra",
                               "default": {"namespaces": ["*"], "labels": {}},
                               "config": {"cniVersion": "1.0.0", "type": "bridge", "bridge": "\(bridge)",
                                          "ipam": {"type": "host-local", "ranges": [[{"subnet": "\(subnetPrefix)0/24"}]],
                                                   "dataDir": "\(work)/ipam"}}}],
                 "kubernetes": {"enabled": true, "server": "\(apiURL)", "tokenFile": "\(work)/token"},
                 "metrics": {"listen": "127.0.0.1:\(port)"},
                 "log": {"level": "debug", "format": "logfmt"}}
                """
                try configuration.write(toFile: work + "/hydra.json", atomically: true, encoding: .utf8)
                let scenario = """
                {"pods": [{"name": "p-\(token)", "uid": "uid-\(token)", "netns": "/var/run/netns/\(namespace)",
                           "ips": ["10.88.0.5"]}],
                 "steps": [{"run": "p-\(token)"}, {"waitForFile": "\(work)/continue"},
                           {"stop": "p-\(token)"}, {"remove": "p-\(token)"}]}
                """
                try scenario.write(toFile: work + "/scenario.json", atomically: true, encoding: .utf8)

                let simulator = try Child(binaries + "/hydra-nri-sim", ["--socket", work + "/nri.sock", "--scenario", work + "/scenario.json"],
                                          outputPath: work + "/sim.out", errorPath: work + "/sim.err")
                processes.append(simulator)
                #expect(await eventually { FileManager.default.fileExists(atPath: work + "/nri.sock") })
                let hydra = try Child(binaries + "/hydra", ["run", "--config", work + "/hydra.json"],
                                      outputPath: work + "/hydra.out", errorPath: work + "/hydra.log")
                processes.append(hydra)

                let attached = await eventually(timeout: .seconds(60)) { simulator.output.contains("\"waiting\"") }
                try #require(attached, "the simulator never got past RunPodSandbox; hydra's log:\n\(hydra.errors)")

                // The kernel has the interface Hydra reports.
                let addresses = try await run("ip", ["-n", namespace, "-4", "-o", "addr", "show", "dev", "hydra"], in: work)
                #expect(addresses.status == 0)
                #expect(addresses.output.contains("inet \(subnetPrefix)"))

                let health = try await EndpointClient.get(address, path: "/healthz")
                #expect(health.status == 200)
                let ready = try await EndpointClient.get(address, path: "/readyz")
                #expect(ready.status == 200, "readyz: \(ready.body)")

                let metrics = try await EndpointClient.get(address, path: "/metrics")
                #expect(metrics.status == 200)
                let labels = "backend=\"bridge\",network=\"\(network)\""
                #expect(metrics.body.contains("hydra_attach_total{\(labels),result=\"success\"} 1\n"), "\(metrics.body)")
                #expect(metrics.body.contains("hydra_attach_duration_seconds_count{\(labels)} 1\n"))
                #expect(metrics.body.contains("hydra_attach_duration_seconds_bucket{\(labels),le=\"+Inf\"} 1\n"))
                #expect(metrics.body.contains("hydra_nri_connection_state{state=\"synchronized\"} 1\n"))
                #expect(metrics.body.contains("hydra_ready 1\n"))
                #expect(metrics.body.contains("hydra_backend_info{backend=\"bridge\",version=\""))
                #expect(!metrics.body.contains("hydra_operation_failures_total{"))
                #expect(metrics.body.contains("hydra_reconcile_actions_total{action=\"pass\"} "))
                #expect(metrics.body.contains("\nhydra_state_write_failures_total 0\n"))

                // The annotation queue's statistics reach the gauges within a sampling interval.
                let applied = await eventually(timeout: .seconds(15)) {
                    let sample = try? await EndpointClient.get(address, path: "/metrics")
                    return sample?.body.contains("hydra_annotation_patches_applied_total 1\n") == true
                }
                #expect(applied, "no applied annotation patch counted; hydra's log:\n\(hydra.errors)")
                let podDocument = try await EndpointClient.get(apiAddress, path: "/api/v1/namespaces/default/pods/p-\(token)")
                #expect(podDocument.body.contains("network-status"), "the API server has no annotation: \(podDocument.body)")
                #expect(metrics.body.contains("hydra_annotation_queue_depth "))

                let statusResponse = try await EndpointClient.get(address, path: "/status")
                let status = try JSONDecoder().decode(DaemonStatus.self, from: Data(statusResponse.body.utf8))
                #expect(status.connection == "synchronized")
                #expect(status.ready)
                let backend = try #require(status.backends.first { $0.name == "bridge" })
                #expect(!backend.version.isEmpty)
                #expect(backend.types == ["bridge"])

                let command = try await run(binaries + "/hydra", ["status", "--address", "127.0.0.1:\(port)",
                                                                   "--state-dir", work + "/state"], in: work)
                #expect(command.status == 0, "hydra status: \(command.output) \(command.errors)")
                #expect(command.output.contains("connection: synchronized"))
                #expect(command.output.contains("  bridge \(backend.version) types=bridge"))
                #expect(command.output.contains("pod=default/p-\(token) netns=/var/run/netns/\(namespace)"))
                #expect(command.output.contains("network=\(network) interface=hydra backend=bridge ips=\(subnetPrefix)"))

                // Stop and remove the pod: the detach is counted too.
                #expect(FileManager.default.createFile(atPath: work + "/continue", contents: nil))
                let simulatorStatus = try await simulator.waitForExit(timeout: .seconds(60))
                #expect(simulatorStatus == 0, "simulator: \(simulator.errors)")
                let after = try await EndpointClient.get(address, path: "/metrics")
                #expect(after.body.contains("hydra_detach_total{\(labels),result=\"success\"} 1\n"))
                #expect(after.body.contains("hydra_detach_duration_seconds_count{\(labels)} 1\n"))
                let gone = try await run("ip", ["-n", namespace, "link", "show", "dev", "hydra"], in: work)
                #expect(gone.status != 0)

                await hydra.stop()
                #expect(hydra.poll() == 0, "hydra exited with \(hydra.poll() ?? -1): \(hydra.errors)")
                #expect(!hydra.errors.isEmpty)
                #expect(!hydra.errors.contains(secret), "the bearer token appears in hydra's log")
                #expect(!hydra.output.contains(secret))
                await #expect(throws: MetricsServerError.self) {
                    _ = try await EndpointClient.get(address, path: "/healthz")
                }
            } catch {
                failure = error
            }
            for child in processes {
                await child.stop()
            }
            _ = try? await run("ip", ["netns", "del", namespace], in: work)
            _ = try? await run("ip", ["link", "del", bridge], in: work)
            if let failure { throw failure }
        }
    }
}
