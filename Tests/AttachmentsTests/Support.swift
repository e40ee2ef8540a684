import Attachments
import BackendHost
import CNI
import CNIExec
import Foundation
import Glibc
import Orchestrator

struct CommandFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs a program with its output in temporary files (never a pipe, so no
/// FileHandle reads), and returns stdout. Throws with stderr on a non-zero
/// exit unless `allowFailure`.
@discardableResult
func run(_ executable: String, _ arguments: [String], allowFailure: Bool = false) throws -> String {
    let base = "/tmp/hydra-chains-cmd-\(UInt64.random(in: 0...UInt64.max))"
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
    process.standardError = FileHandle(forWritingAtPath: base + ".err")
    try process.run()
    process.waitUntilExit()
    let output = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let errors = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    if process.terminationStatus != 0 && !allowFailure {
        throw CommandFailure(description: "\(executable) \(arguments.joined(separator: " ")) exited with status \(process.terminationStatus): \(errors)")
    }
    return output
}

@discardableResult
func ip(_ arguments: String...) throws -> String {
    try run("/usr/sbin/ip", arguments)
}

func randomSuffix(_ digits: Int = 6) -> String {
    String(String(UInt64.random(in: 0...UInt64.max), radix: 16).suffix(digits))
}

/// A random /24 under 10.0.0.0/8 that the other tests in this process do
/// not use: returns "10.A.B" (without the last octet).
func randomSubnetPrefix() -> String {
    "10.\(Int.random(in: 150...249)).\(Int.random(in: 1...254))"
}

/// Parses JSON text (`ip -j`, a recorded stdin) into a JSONValue.
func json(_ text: String) throws -> JSONValue {
    try JSONValue(parsing: text)
}

/// A temporary directory removed on deinit.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = "/tmp/hydra-chains-\(randomSuffix(10))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes an executable shell script named `name`. The file is opened
    /// with O_CLOEXEC: a plugin that a parallel test spawns meanwhile would
    /// otherwise inherit the write descriptor, and exec of this script
    /// would fail with ETXTBSY for as long as that plugin runs.
    func script(_ name: String, _ body: String) throws {
        let path = "\(self.path)/\(name)"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard descriptor >= 0 else {
            throw CommandFailure(description: "failed to create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(("#!/bin/sh\n" + body).utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw CommandFailure(description: "failed to write \(path): \(String(cString: strerror(errno)))")
            }
            written += count
        }
    }
}

/// A named network namespace (`ip netns add` with a random suffix), deleted on deinit.
final class TestNamespace: @unchecked Sendable {
    let name: String
    var path: String { "/run/netns/\(name)" }

    init() throws {
        name = "hch-\(randomSuffix(8))"
        try ip("netns", "add", name)
        try ip("-n", name, "link", "set", "lo", "up")
    }

    deinit {
        _ = try? ip("netns", "del", name)
    }

    /// `ip -j -d link show` of one device inside the namespace, or nil when missing.
    func link(_ device: String) -> JSONValue? {
        guard let text = try? run("/usr/sbin/ip", ["-n", name, "-j", "-d", "link", "show", device], allowFailure: true),
              let value = try? json(text) else { return nil }
        return value[0]
    }

    /// The IPv4 addresses of a device inside the namespace, as "a.b.c.d/len".
    func addresses(_ device: String) throws -> [String] {
        let value = try json(try ip("-n", name, "-j", "-4", "addr", "show", "dev", device))
        return (value[0]?["addr_info"]?.arrayValue ?? []).compactMap { info in
            guard let local = info["local"]?.stringValue, let prefix = info["prefixlen"]?.int64Value else { return nil }
            return "\(local)/\(prefix)"
        }
    }
}

/// A host link deleted on deinit (bridges the bridge plugin leaves behind,
/// veth pairs used as masters).
final class HostLink: @unchecked Sendable {
    let name: String

    init(name: String) {
        self.name = name
    }

    deinit {
        _ = try? run("/usr/sbin/ip", ["link", "del", name], allowFailure: true)
    }
}

/// The iptables NAT rules, as `iptables -t nat -S` prints them.
func natRules() throws -> String {
    try run("/usr/sbin/iptables", ["-w", "-t", "nat", "-S"])
}

/// Builds a request the way the orchestrator does for a pod.
func makeRequest(sandboxID: String = "sandbox-\(randomSuffix(12))", netns: String, network: String,
                 interface: String = "net1", config: JSONValue, runtimeConfig: [String: JSONValue] = [:],
                 defaultRoute: [String] = []) -> AttachmentRequest {
    let pod = PodReference(namespace: "ns-chains", name: "pod-chains", uid: "uid-\(sandboxID)")
    return AttachmentRequest(sandboxID: sandboxID, pod: pod, netnsPath: netns, network: network,
                             definitionNamespace: nil, interface: interface, config: config,
                             runtimeConfig: runtimeConfig, defaultRoute: defaultRoute,
                             cniArgs: ["IgnoreUnknown": "1", "K8S_POD_NAMESPACE": pod.namespace,
                                       "K8S_POD_NAME": pod.name, "K8S_POD_INFRA_CONTAINER_ID": sandboxID,
                                       "K8S_POD_UID": pod.uid])
}

/// A runner over the given plugin directories with no native backends and
/// its result cache in `cacheDirectory`.
func makeRunner(directories: [String], cacheDirectory: String?, backends: BackendSet? = nil) throws -> ChainRunner {
    let executor = CNIExecutor(pluginDirectories: directories)
    let set = try backends ?? BackendLoader(directory: "/nonexistent", stateRoot: "/nonexistent").load([])
    return ChainRunner(backends: set, executor: executor, cacheDirectory: cacheDirectory)
}

func deadline(seconds: Int = 10) -> ContinuousClock.Instant {
    .now + .seconds(seconds)
}

/// Returns a shell plugin that records each call and prints an ADD result in
/// the version it was given (or `fixedVersion`): it writes
/// `<log>/<n>-<command>-<tag>.stdin` and `.env`, where n counts calls.
/// It reads the input's version from its first key, which works because
/// the host writes JSON with sorted keys and these configs have no key
/// before "cniVersion".
func recorderScript(log: String, tag: String, fixedVersion: String? = nil, supportedVersions: [String] = CNIVersion.supportedVersions) -> String {
    let versions = supportedVersions.map { "\"\($0)\"" }.joined(separator: ",")
    let versionLine = fixedVersion.map { "v=\($0)" }
        ?? #"v=$(printf '%s' "$input" | sed -n 's/^{"cniVersion":"\([^"]*\)".*/\1/p')"#
    return """
    if [ "$CNI_COMMAND" = VERSION ]; then
      cat >/dev/null
      printf '{"cniVersion":"1.0.0","supportedVersions":[\(versions)]}'
      exit 0
    fi
    input=$(cat)
    n=$(ls \(log) | wc -l)
    n=$(printf '%03d' "$n")
    printf '%s' "$input" > \(log)/$n-$CNI_COMMAND-\(tag).stdin
    env > \(log)/$n-$CNI_COMMAND-\(tag).env
    if [ "$CNI_COMMAND" = ADD ]; then
      \(versionLine)
      printf '{"cniVersion":"%s","interfaces":[{"name":"\(tag)","mac":"02:00:00:00:00:01","mtu":1400}],"ips":[{"address":"10.9.0.2/24","gateway":"10.9.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0","gw":"10.9.0.1","priority":5}],"dns":{"nameservers":["10.9.0.53"]}}' "$v"
    fi
    exit 0
    """
}

/// The calls a recorder logged, in order: (command, tag, stdin JSON, environment lines).
func recordedCalls(_ log: String) throws -> [(command: String, tag: String, stdin: JSONValue, env: [String])] {
    let names = try FileManager.default.contentsOfDirectory(atPath: log).filter { $0.hasSuffix(".stdin") }.sorted()
    return try names.map { name in
        let parts = name.dropLast(6).split(separator: "-")
        let stdin = try json(try String(contentsOfFile: "\(log)/\(name)", encoding: .utf8))
        let envName = String(name.dropLast(6)) + ".env"
        let env = (try? String(contentsOfFile: "\(log)/\(envName)", encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        return (command: String(parts[1]), tag: String(parts[2]), stdin: stdin, env: env)
    }
}
