import Attachments
import CNI
import CNIExec
import Foundation
import Glibc
import Orchestrator
import Testing

/// Chain semantics checked with recording shell plugins: what each plugin
/// gets on stdin and in its environment.
@Suite struct ChainSemanticsTests {
    @Test func addInjectsNameVersionAndCapabilities() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        try directory.script("rec-b", recorderScript(log: log, tag: "b"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")
        let config: JSONValue = [
            "cniVersion": "1.0.0", "name": "semantics",
            "plugins": [
                ["type": "rec-a", "capabilities": ["portMappings": true, "ips": false], "zzUnknown": ["kept": 1]],
                ["type": "rec-b", "runtimeConfig": ["operator": "value"]],
            ],
        ]
        let portMappings: JSONValue = [["hostPort": 8080, "containerPort": 80, "protocol": "tcp"]]
        setenv("CNI_HYDRA_LEAK_CHECK", "leaked", 1)
        let request = makeRequest(netns: "/run/netns/none", network: "local-net", config: config,
                                  runtimeConfig: ["portMappings": portMappings, "dns": ["nameservers": ["1.1.1.1"]]])

        let result = try await runner.attach(request, deadline: deadline())

        #expect(result.cniVersion == "1.0.0")
        let calls = try recordedCalls(log)
        #expect(calls.map(\.command) == ["ADD", "ADD"])
        #expect(calls.map(\.tag) == ["a", "b"])
        let first = calls[0].stdin
        #expect(first["name"] == "semantics")
        #expect(first["cniVersion"] == "1.0.0")
        #expect(first["capabilities"] == nil)
        #expect(first["runtimeConfig"] == ["portMappings": portMappings])
        #expect(first["zzUnknown"] == ["kept": 1])
        #expect(first["prevResult"] == nil)
        let second = calls[1].stdin
        // rec-b declares nothing, so its own runtimeConfig stays as written.
        #expect(second["runtimeConfig"] == ["operator": "value"])
        #expect(second["prevResult"]?["cniVersion"] == "1.0.0")
        #expect(second["prevResult"]?["interfaces"]?[0]?["name"] == "a")

        let env = calls[0].env
        #expect(env.contains("CNI_COMMAND=ADD"))
        #expect(env.contains("CNI_CONTAINERID=\(request.sandboxID)"))
        #expect(env.contains("CNI_NETNS=/run/netns/none"))
        #expect(env.contains("CNI_IFNAME=net1"))
        #expect(env.contains("CNI_PATH=\(directory.path)"))
        let expectedArgs = "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns-chains;K8S_POD_NAME=pod-chains;"
            + "K8S_POD_INFRA_CONTAINER_ID=\(request.sandboxID);K8S_POD_UID=uid-\(request.sandboxID)"
        #expect(env.contains(expectedArgs))
        #expect(!env.contains { $0.hasPrefix("CNI_HYDRA_LEAK_CHECK") })
    }

    @Test func cacheEntryUsesLibcniLayout() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let cacheDirectory = directory.path + "/cache"
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: cacheDirectory)
        let config: JSONValue = ["cniVersion": "0.4.0", "name": "cached",
                                 "plugins": [["type": "rec-a", "capabilities": ["mac": true]]]]
        let request = makeRequest(netns: "/run/netns/none", network: "cached", config: config,
                                  runtimeConfig: ["mac": "02:00:00:00:00:09"])

        _ = try await runner.attach(request, deadline: deadline())

        let path = "\(cacheDirectory)/results/cached-\(request.sandboxID)-net1"
        let entry = try json(try String(contentsOfFile: path, encoding: .utf8))
        #expect(entry["kind"] == "cniCacheV1")
        #expect(entry["containerId"]?.stringValue == request.sandboxID)
        #expect(entry["ifName"] == "net1")
        #expect(entry["networkName"] == "cached")
        #expect(entry["netns"] == "/run/netns/none")
        #expect(entry["result"]?["cniVersion"] == "0.4.0")
        #expect(entry["result"]?["ips"]?[0]?["version"] == "4")
        #expect(entry["capabilityArgs"] == ["mac": "02:00:00:00:00:09"])
        #expect(entry["cniArgs"]?[0] == ["IgnoreUnknown", "1"])
        let configData = Data(base64Encoded: entry["config"]?.stringValue ?? "") ?? Data()
        #expect(try JSONValue(parsing: configData) == config)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)

        try await runner.detach(AttachmentRecord(request: request), deadline: deadline())
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func deleteRunsInReverseWithCachedResult() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        try directory.script("rec-b", recorderScript(log: log, tag: "b"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")
        let config: JSONValue = ["cniVersion": "1.0.0", "name": "reverse", "plugins": [["type": "rec-a"], ["type": "rec-b"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "reverse", config: config)
        _ = try await runner.attach(request, deadline: deadline())

        // The record's result differs from the cache: DEL must use the cache.
        try await runner.detach(AttachmentRecord(request: request, result: CNIResult(cniVersion: "1.0.0")),
                                deadline: deadline())

        let deletes = try recordedCalls(log).filter { $0.command == "DEL" }
        #expect(deletes.map(\.tag) == ["b", "a"])
        for call in deletes {
            #expect(call.stdin["prevResult"]?["interfaces"]?[0]?["name"] == "b")
            #expect(call.env.contains("CNI_COMMAND=DEL"))
        }
    }

    @Test func zeroByteCacheEntryStillDeletes() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let cacheDirectory = directory.path + "/cache"
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: cacheDirectory)
        let config: JSONValue = ["cniVersion": "1.0.0", "name": "truncated", "plugins": [["type": "rec-a"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "truncated", config: config)
        let result = try await runner.attach(request, deadline: deadline())
        let path = "\(cacheDirectory)/results/truncated-\(request.sandboxID)-net1"
        #expect(truncate(path, 0) == 0)

        try await runner.detach(AttachmentRecord(request: request, result: result), deadline: deadline())

        let deletes = try recordedCalls(log).filter { $0.command == "DEL" }
        #expect(deletes.count == 1)
        #expect(deletes.first?.stdin["prevResult"] == nil)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func failedDeleteKeepsCacheEntry() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        try directory.script("del-fails", """
            cat >/dev/null
            if [ "$CNI_COMMAND" = DEL ]; then printf '{"code":11,"msg":"busy"}'; exit 1; fi
            printf '{"cniVersion":"1.0.0"}'
            """)
        let cacheDirectory = directory.path + "/cache"
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: cacheDirectory)
        let config: JSONValue = ["cniVersion": "1.0.0", "name": "keep", "plugins": [["type": "rec-a"], ["type": "del-fails"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "keep", config: config)
        _ = try await runner.attach(request, deadline: deadline())

        await #expect(throws: CNIError.self) {
            try await runner.detach(AttachmentRecord(request: request), deadline: deadline())
        }
        // The DEL of the earlier plugin still ran, and the entry stays for a retry.
        #expect(try recordedCalls(log).filter { $0.command == "DEL" }.map(\.tag) == ["a"])
        #expect(FileManager.default.fileExists(atPath: "\(cacheDirectory)/results/keep-\(request.sandboxID)-net1"))
    }

    @Test func mandatoryCapabilityWithoutPluginFails() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let config: JSONValue = ["cniVersion": "1.0.0", "name": "caps",
                                 "plugins": [["type": "rec-a", "capabilities": ["mac": true]]]]
        for key in ["ips", "portMappings", "bandwidth"] {
            let value: JSONValue = key == "bandwidth" ? ["ingressRate": 1000] : ["x"]
            let request = makeRequest(netns: "/run/netns/none", network: "caps", config: config, runtimeConfig: [key: value])
            do {
                _ = try await runner.attach(request, deadline: deadline())
                Issue.record("attach with \(key) succeeded without a plugin declaring it")
            } catch let error as CNIError {
                #expect(error.code == CNIError.unsupportedField)
                #expect(error.msg.contains("\"\(key)\""))
            }
        }
        #expect(try recordedCalls(log).isEmpty)
        // The declared one passes, and an empty list requests nothing.
        let allowed = makeRequest(netns: "/run/netns/none", network: "caps", config: config,
                                  runtimeConfig: ["mac": "02:00:00:00:00:07", "ips": []])
        _ = try await runner.attach(allowed, deadline: deadline())
        #expect(try recordedCalls(log).first?.stdin["runtimeConfig"] == ["mac": "02:00:00:00:00:07"])
    }

    @Test func checkHonoursVersionAndDisableCheck() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("rec-a", recorderScript(log: log, tag: "a"))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: directory.path + "/cache")

        let modern: JSONValue = ["cniVersion": "1.0.0", "name": "check", "plugins": [["type": "rec-a"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "check", config: modern)
        _ = try await runner.attach(request, deadline: deadline())
        try await runner.check(AttachmentRecord(request: request), deadline: deadline())
        let checks = try recordedCalls(log).filter { $0.command == "CHECK" }
        #expect(checks.count == 1)
        #expect(checks.first?.stdin["prevResult"]?["interfaces"]?[0]?["name"] == "a")

        let disabled: JSONValue = ["cniVersion": "1.0.0", "name": "check-off", "disableCheck": true,
                                   "plugins": [["type": "rec-a"]]]
        let quiet = makeRequest(netns: "/run/netns/none", network: "check-off", config: disabled)
        _ = try await runner.attach(quiet, deadline: deadline())
        try await runner.check(AttachmentRecord(request: quiet), deadline: deadline())
        #expect(try recordedCalls(log).filter { $0.command == "CHECK" }.count == 1)

        let old: JSONValue = ["cniVersion": "0.3.1", "name": "check-old", "plugins": [["type": "rec-a"]]]
        let oldRequest = makeRequest(netns: "/run/netns/none", network: "check-old", config: old)
        _ = try await runner.attach(oldRequest, deadline: deadline())
        await #expect(throws: CNIError.self) {
            try await runner.check(AttachmentRecord(request: oldRequest), deadline: deadline())
        }
        // 0.3.1 has no prevResult on DEL either.
        try await runner.detach(AttachmentRecord(request: oldRequest), deadline: deadline())
        #expect(try recordedCalls(log).last?.stdin["prevResult"] == nil)
    }

    static let versions = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]

    @Test(arguments: versions, versions)
    func versionConversion(from: String, to: String) async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("fixed", recorderScript(log: log, tag: "a", fixedVersion: from))
        try directory.script("rec-b", recorderScript(log: log, tag: "b", fixedVersion: from))
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let config: JSONValue = ["cniVersion": .string(to), "name": "convert", "plugins": [["type": "fixed"], ["type": "rec-b"]]]
        let request = makeRequest(netns: "/run/netns/none", network: "convert", config: config)

        let result = try await runner.attach(request, deadline: deadline())

        #expect(result.cniVersion == to)
        let prevResult = try #require(try recordedCalls(log).last?.stdin["prevResult"])
        #expect(prevResult["cniVersion"]?.stringValue == to)
        let isOld = CNIVersion(to)! < .v1_0_0
        #expect((prevResult["ips"]?[0]?["version"] == "4") == isOld)
        if CNIVersion(to)! < .v1_1_0 {
            #expect(prevResult["interfaces"]?[0]?["mtu"] == nil)
            #expect(prevResult["routes"]?[0]?["priority"] == nil)
        } else if CNIVersion(from)! >= .v1_1_0 {
            #expect(prevResult["interfaces"]?[0]?["mtu"] == 1400)
            #expect(prevResult["routes"]?[0]?["priority"] == 5)
        }
        #expect(prevResult["ips"]?[0]?["address"] == "10.9.0.2/24")
        #expect(prevResult["dns"]?["nameservers"] == ["10.9.0.53"])
    }

    @Test func pluginErrorCodesSurface() async throws {
        let directory = try TemporaryDirectory()
        try directory.script("coded", """
            cat >/dev/null
            printf '{"cniVersion":"1.0.0","code":107,"msg":"no free VF","details":"pool eno1 exhausted"}'
            exit 1
            """)
        try directory.script("crashes", """
            cat >/dev/null
            echo "panic: nil map" >&2
            exit 3
            """)
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)

        let coded = makeRequest(netns: "/run/netns/none", network: "errors",
                                config: ["cniVersion": "1.0.0", "name": "errors", "type": "coded"])
        do {
            _ = try await runner.attach(coded, deadline: deadline())
            Issue.record("attach succeeded")
        } catch let error as ChainStepError {
            #expect(error.cniError.code == 107)
            #expect(error.description.contains("no free VF: pool eno1 exhausted (CNI error 107)"))
            #expect(error.description.contains("plugin 0 (coded) ADD"))
        }

        let crashing = makeRequest(netns: "/run/netns/none", network: "errors",
                                   config: ["cniVersion": "1.0.0", "name": "errors", "type": "crashes"])
        do {
            _ = try await runner.attach(crashing, deadline: deadline())
            Issue.record("attach succeeded")
        } catch let error as ChainStepError {
            #expect(error.description.contains("exited with status 3"))
            #expect(error.description.contains("panic: nil map"))
        }

        let missing = makeRequest(netns: "/run/netns/none", network: "errors",
                                  config: ["cniVersion": "1.0.0", "name": "errors", "type": "not-installed"])
        do {
            _ = try await runner.attach(missing, deadline: deadline())
            Issue.record("attach succeeded")
        } catch let error as ChainStepError {
            #expect(error.description.contains("failed to find plugin \"not-installed\" in path [\(directory.path)]"))
        }
    }

    @Test func hangingPluginKilledAtDeadline() async throws {
        let directory = try TemporaryDirectory()
        let pidFile = directory.path + "/pids"
        try directory.script("hangs", """
            cat >/dev/null
            sleep 60 &
            echo $$ $! > \(pidFile)
            wait
            """)
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let request = makeRequest(netns: "/run/netns/none", network: "hang",
                                  config: ["cniVersion": "1.0.0", "name": "hang", "type": "hangs"])
        let started = ContinuousClock.now

        await #expect(throws: ChainStepError.self) {
            _ = try await runner.attach(request, deadline: .now + .milliseconds(800))
        }

        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .milliseconds(1500))
        let pids = try String(contentsOfFile: pidFile, encoding: .utf8).split(separator: " ")
            .compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(pids.count == 2)
        for pid in pids {
            #expect(await isGone(pid), "process \(pid) of the plugin's group survived")
        }
    }

    @Test func textFileBusyIsRetried() async throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try directory.script("busy", recorderScript(log: log, tag: "a"))
        // An open write descriptor makes execve fail with ETXTBSY until it
        // closes. O_CLOEXEC keeps plugins that parallel tests spawn from
        // inheriting it and so holding the file busy longer.
        let descriptor = open(directory.path + "/busy", O_WRONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        let closer = Thread {
            usleep(120_000)
            close(descriptor)
        }
        closer.start()
        let runner = try makeRunner(directories: [directory.path], cacheDirectory: nil)
        let request = makeRequest(netns: "/run/netns/none", network: "busy",
                                  config: ["cniVersion": "1.0.0", "name": "busy", "type": "busy"])

        let result = try await runner.attach(request, deadline: deadline())

        #expect(result.interfaces.first?.name == "a")
    }
}

/// Returns whether `pid` is gone or a zombie, waiting up to a second for a
/// killed orphan to be reaped.
func isGone(_ pid: pid_t) async -> Bool {
    for _ in 0..<50 {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if stat.isEmpty { return true }
        // The state is the first field after the parenthesized command name.
        if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}
