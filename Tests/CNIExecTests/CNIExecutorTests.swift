import CNI
import Foundation
import Glibc
import Testing
@testable import CNIExec

/// A temporary plugin directory holding shell-script plugins.
final class FakePluginDirectory {
    let path: String

    init() throws {
        path = "/tmp/hydra-cniexec-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes an executable /bin/sh plugin named `name`.
    func addPlugin(_ name: String, script: String) throws {
        let file = path + "/" + name
        try ("#!/bin/sh\n" + script + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o755)
    }
}

func deadline(seconds: Double) -> Int64 {
    MonotonicClock.now() + Int64(seconds * 1_000_000_000)
}

/// Returns whether a process exists and is not a zombie, read from /proc/PID/stat.
func processIsAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

@Suite struct CNIExecutorTests {
    @Test func versionOfReferenceBridge() throws {
        let executor = CNIExecutor(pluginDirectories: ["/usr/lib/cni"])
        let info = try executor.version(pluginType: "bridge", cniVersion: "1.0.0", deadlineNanoseconds: deadline(seconds: 10))
        let versions = info["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(versions.contains("1.0.0"))
        #expect(versions.contains("0.4.0"))
    }

    @Test func pluginNotFoundNamesDirectories() throws {
        let directory = try FakePluginDirectory()
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        #expect(throws: CNIExecError.pluginNotFound(type: "missing", directories: [directory.path])) {
            try executor.execute(CNIInvocation(command: "ADD", pluginType: "missing", stdinData: Data()),
                                 deadlineNanoseconds: deadline(seconds: 5))
        }
        #expect(throws: CNIExecError.invalidPluginType("../bin/sh")) {
            try executor.findPlugin("../bin/sh")
        }
    }

    @Test func stdinAndEnvironmentReachPlugin() throws {
        let directory = try FakePluginDirectory()
        try directory.addPlugin("echoenv", script: """
            input=$(cat)
            printf '%s\\n' "$input"
            env | grep '^CNI_' | sort
            """)
        setenv("CNI_LEAKED_FROM_HOST", "1", 1)
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        let invocation = CNIInvocation(command: "ADD", pluginType: "echoenv", stdinData: Data(#"{"name":"n"}"#.utf8),
                                       containerID: "c1", netns: "/var/run/netns/x", ifName: "net1",
                                       args: [("K8S_POD_NAME", "web"), ("IgnoreUnknown", "true")])
        let output = String(decoding: try executor.execute(invocation, deadlineNanoseconds: deadline(seconds: 10)),
                            as: UTF8.self)
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == #"{"name":"n"}"#)
        #expect(lines.contains("CNI_COMMAND=ADD"))
        #expect(lines.contains("CNI_CONTAINERID=c1"))
        #expect(lines.contains("CNI_NETNS=/var/run/netns/x"))
        #expect(lines.contains("CNI_IFNAME=net1"))
        #expect(lines.contains("CNI_ARGS=K8S_POD_NAME=web;IgnoreUnknown=true"))
        #expect(lines.contains("CNI_PATH=\(directory.path)"))
        #expect(!lines.contains { $0.hasPrefix("CNI_LEAKED_FROM_HOST") })
    }

    @Test func jsonErrorSurfacesCodeAndMessage() throws {
        let directory = try FakePluginDirectory()
        try directory.addPlugin("failjson", script: """
            cat >/dev/null
            echo '{"cniVersion":"1.0.0","code":7,"msg":"invalid bridge name","details":"br@x"}'
            exit 1
            """)
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        do {
            _ = try executor.execute(CNIInvocation(command: "ADD", pluginType: "failjson", stdinData: Data("{}".utf8)),
                                     deadlineNanoseconds: deadline(seconds: 10))
            Issue.record("expected the plugin to fail")
        } catch {
            guard case .plugin(let path, let pluginError) = error else {
                Issue.record("expected .plugin, got \(error)")
                return
            }
            #expect(path == directory.path + "/failjson")
            #expect(pluginError.code == 7)
            #expect(pluginError.msg == "invalid bridge name")
            #expect(pluginError.details == "br@x")
            #expect(error.cniError.code == 7)
        }
    }

    @Test func nonJSONFailureCarriesStderr() throws {
        let directory = try FakePluginDirectory()
        try directory.addPlugin("failtext", script: """
            echo "something broke" >&2
            echo "not a CNI error"
            exit 3
            """)
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        do {
            _ = try executor.execute(CNIInvocation(command: "DEL", pluginType: "failtext", stdinData: Data("{}".utf8)),
                                     deadlineNanoseconds: deadline(seconds: 10))
            Issue.record("expected the plugin to fail")
        } catch {
            guard case .pluginFailed(_, let command, let exitStatus, let signal, let stderr, let stdout) = error else {
                Issue.record("expected .pluginFailed, got \(error)")
                return
            }
            #expect(command == "DEL")
            #expect(exitStatus == 3)
            #expect(signal == nil)
            #expect(stderr == "something broke")
            #expect(stdout == "not a CNI error")
            #expect(error.description.contains("something broke"))
        }
    }

    @Test func deadlineKillsWholeProcessGroup() throws {
        let directory = try FakePluginDirectory()
        let pidFile = directory.path + "/pids"
        try directory.addPlugin("hang", script: """
            sleep 300 &
            echo "$$ $!" > \(pidFile)
            sleep 300
            """)
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        let started = MonotonicClock.now()
        do {
            _ = try executor.execute(CNIInvocation(command: "ADD", pluginType: "hang", stdinData: Data("{}".utf8)),
                                     deadlineNanoseconds: deadline(seconds: 0.7))
            Issue.record("expected a timeout")
        } catch {
            guard case .timedOut(_, let command, _) = error else {
                Issue.record("expected .timedOut, got \(error)")
                return
            }
            #expect(command == "ADD")
        }
        let elapsed = Double(MonotonicClock.now() - started) / 1e9
        #expect(elapsed < 3)

        let pids = try String(contentsOfFile: pidFile, encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
        #expect(pids.count == 2)
        // The orphaned child is reaped by init asynchronously; poll for it.
        var alive = pids.filter(processIsAlive)
        for _ in 0..<50 where !alive.isEmpty {
            usleep(20_000)
            alive = pids.filter(processIsAlive)
        }
        #expect(alive.isEmpty, "still running after the deadline: \(alive)")
    }

    @Test func pastDeadlineDoesNotStartPlugin() throws {
        let directory = try FakePluginDirectory()
        let marker = directory.path + "/ran"
        try directory.addPlugin("marker", script: "touch \(marker)")
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        // A relative duration passed as a deadline lies far in the past.
        #expect(throws: CNIExecError.timedOut(path: directory.path + "/marker", command: "ADD", afterMilliseconds: 0)) {
            try executor.execute(CNIInvocation(command: "ADD", pluginType: "marker", stdinData: Data()),
                                 deadlineNanoseconds: 2_000_000_000)
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func textFileBusyIsRetried() throws {
        let directory = try FakePluginDirectory()
        try directory.addPlugin("busy", script: "echo ok")
        // Keep the binary open for writing so that execve fails with ETXTBSY,
        // then close it while the executor is retrying.
        let writer = open(directory.path + "/busy", O_WRONLY | O_CLOEXEC)
        #expect(writer >= 0)
        let closer = Thread { usleep(120_000); close(writer) }
        closer.start()
        let executor = CNIExecutor(pluginDirectories: [directory.path])
        let output = try executor.execute(CNIInvocation(command: "VERSION", pluginType: "busy", stdinData: Data()),
                                          deadlineNanoseconds: deadline(seconds: 10))
        #expect(String(decoding: output, as: UTF8.self) == "ok\n")
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func bridgeAddAndDeleteInNamespace() throws {
        let suffix = String(UInt32.random(in: 0...0xFFFFFF), radix: 16)
        let namespace = "hx-exec-\(suffix)"
        let bridge = "hxbr\(suffix)"
        let dataDir = "/tmp/hydra-cniexec-ipam-\(suffix)"
        let octet = Int.random(in: 1...250)
        try shell("ip netns add \(namespace)")
        defer {
            _ = try? shell("ip netns del \(namespace)")
            _ = try? shell("ip link del \(bridge)")
            try? FileManager.default.removeItem(atPath: dataDir)
        }

        let config = """
            {"cniVersion":"1.0.0","name":"exec-\(suffix)","type":"bridge","bridge":"\(bridge)",
             "ipam":{"type":"host-local","dataDir":"\(dataDir)","subnet":"10.213.\(octet).0/24"}}
            """
        let executor = CNIExecutor(pluginDirectories: ["/usr/lib/cni"])
        let invocation = CNIInvocation(command: "ADD", pluginType: "bridge", stdinData: Data(config.utf8),
                                       containerID: "ctr-\(suffix)", netns: "/var/run/netns/\(namespace)",
                                       ifName: "net1")
        let result = try executor.add(invocation, deadlineNanoseconds: deadline(seconds: 20))
        #expect(result.ips.first?.address.hasPrefix("10.213.\(octet).") == true)
        let addresses = try shell("ip -n \(namespace) -j addr show dev net1")
        #expect(addresses.contains("10.213.\(octet)."))

        try executor.delete(invocation, deadlineNanoseconds: deadline(seconds: 20))
        let links = try shell("ip -n \(namespace) -j link show")
        #expect(!links.contains("\"net1\""))
        // DEL is idempotent.
        try executor.delete(invocation, deadlineNanoseconds: deadline(seconds: 20))
    }
}

/// Runs `command` with /bin/sh and returns stdout; throws on a non-zero exit.
@discardableResult
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CNIError(code: 999, msg: "command failed with status \(process.terminationStatus): \(command)")
    }
    return String(decoding: data, as: UTF8.self)
}
