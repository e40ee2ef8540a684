import Foundation
import Testing

/// `hydra run` driven by `hydra-nri-sim` through an attach and a detach, with
/// JSON logs at debug level and a fake API server reached with a bearer token.
/// The network chains the native bridge backend and the reference `tuning`
/// plugin, so the CNI executor logs too. Every line about the sandbox must
/// name its pod.
@Suite struct PodLogFieldsTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func sandboxLinesNamePodAndSandbox() async throws {
        let binaries = try binaryDirectory(requiring: ["hydra", "hydra-nri-sim", "hydra-fake-apiserver",
                                                       "libhydra-backend-bridge.so"])
        let token = String(format: "%06x", UInt32.random(in: 0...0xff_ffff))
        let namespace = "hl-\(token)"
        let bridge = "hlb\(token)"
        let network = "logs\(token)"
        let pod = "p-\(token)"
        let sandboxID = "sandbox-\(token)-\(UInt32.random(in: 0...UInt32.max))"
        let subnetPrefix = "10.\(Int.random(in: 200...249)).\(Int.random(in: 0...255))."

        try await withTemporaryDirectory { work in
            _ = try await run("ip", ["netns", "add", namespace], in: work)
            var processes: [Child] = []
            var failure: (any Error)?
            do {
                _ = try await run("ip", ["-n", namespace, "link", "set", "lo", "up"], in: work)

                let secret = "hydra-log-token-\(token)-\(UInt64.random(in: 0...UInt64.max))"
                try secret.write(toFile: work + "/token", atomically: true, encoding: .utf8)
                let seed = #"{"pods": [{"metadata": {"name": "\#(pod)", "namespace": "default", "uid": "uid-\#(token)"}}]}"#
                try seed.write(toFile: work + "/seed.json", atomically: true, encoding: .utf8)
                let apiServer = try Child(binaries + "/hydra-fake-apiserver",
                                          ["--listen", "127.0.0.1:0", "--seed", work + "/seed.json",
                                           "--print-url-file", work + "/api-url"],
                                          outputPath: work + "/api.out", errorPath: work + "/api.err")
                processes.append(apiServer)
                #expect(await eventually { !((try? String(contentsOfFile: work + "/api-url", encoding: .utf8)) ?? "").isEmpty })
                let apiURL = try String(contentsOfFile: work + "/api-url", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)

                let configuration = """
                {"nri": {"socket": "\(work)/nri.sock", "pluginName": "hydra-\(token)", "pluginIndex": "50"},
                 "backends": {"dir": "\(binaries)", "load": [{"name": "bridge", "required": true}]},
                 "stateDir": "\(work)/state",
                 "networks": [{"name": "\(network)", "interface": "hydra",
                               "default": {"namespaces": ["*"], "labels": {}},
                               "config": {"cniVersion": "1.0.0", "name": "\(network)", "plugins": [
                                   {"type": "bridge", "bridge": "\(bridge)",
                                    "ipam": {"type": "host-local", "ranges": [[{"subnet": "\(subnetPrefix)0/24"}]],
                                             "dataDir": "\(work)/ipam"}},
                                   {"type": "tuning"}]}}],
                 "kubernetes": {"enabled": true, "server": "\(apiURL)", "tokenFile": "\(work)/token"},
                 "metrics": {"listen": ""},
                 "log": {"level": "debug", "format": "json"}}
                """
                try configuration.write(toFile: work + "/hydra.json", atomically: true, encoding: .utf8)
                let scenario = """
                {"pods": [{"name": "\(pod)", "uid": "uid-\(token)", "id": "\(sandboxID)",
                           "netns": "/var/run/netns/\(namespace)", "ips": ["10.88.0.5"]}],
                 "steps": [{"run": "\(pod)"}, {"stop": "\(pod)"}, {"remove": "\(pod)"}]}
                """
                try scenario.write(toFile: work + "/scenario.json", atomically: true, encoding: .utf8)

                let simulator = try Child(binaries + "/hydra-nri-sim",
                                          ["--socket", work + "/nri.sock", "--scenario", work + "/scenario.json"],
                                          outputPath: work + "/sim.out", errorPath: work + "/sim.err")
                processes.append(simulator)
                #expect(await eventually { FileManager.default.fileExists(atPath: work + "/nri.sock") })
                let hydra = try Child(binaries + "/hydra", ["run", "--config", work + "/hydra.json", "--cni-path", "/usr/lib/cni"],
                                      outputPath: work + "/hydra.out", errorPath: work + "/hydra.log")
                processes.append(hydra)

                let simulatorStatus = try await simulator.waitForExit(timeout: .seconds(60))
                #expect(simulatorStatus == 0, "simulator: \(simulator.errors)")
                // The detach removed the interface, so both halves ran.
                let interfaceLookup = try await run("ip", ["-n", namespace, "link", "show", "dev", "hydra"], in: work)
                #expect(interfaceLookup.status != 0)
                // Let the annotation queue settle before stopping, so its lines are in the log too.
                _ = await eventually(timeout: .seconds(5)) { hydra.errors.contains("applied annotation patch") }
                await hydra.stop()

                let lines = hydra.errors.split(separator: "\n").map(String.init)
                let aboutSandbox = lines.filter { $0.contains(sandboxID) }
                #expect(aboutSandbox.contains { $0.contains("\"attached network\"") }, "no attach line:\n\(hydra.errors)")
                #expect(aboutSandbox.contains { $0.contains("\"detached network\"") }, "no detach line:\n\(hydra.errors)")
                #expect(aboutSandbox.contains { $0.contains("\"CNI plugin finished\"") },
                        "no CNI executor line:\n\(hydra.errors)")
                for line in aboutSandbox {
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    let fields = try #require(object, "not a JSON object: \(line)")
                    #expect(fields["pod"] as? String == "default/\(pod)", "line without the pod: \(line)")
                    #expect(fields["sandbox"] as? String == sandboxID, "line without the sandbox: \(line)")
                    #expect(fields["sandboxID"] == nil, "line with the old sandboxID key: \(line)")
                    #expect(fields["containerID"] == nil, "line with the old containerID key: \(line)")
                }
                #expect(!hydra.errors.contains(secret), "the bearer token appears in hydra's log")
                #expect(!hydra.output.contains(secret))
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
