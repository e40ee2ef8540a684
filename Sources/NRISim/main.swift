// hydra-nri-sim: plays the container runtime's side of NRI for tests, the
// demo and benchmarks. It listens on a unix socket, accepts one plugin,
// configures and synchronizes it, then sends the pod events of a JSON
// scenario and prints one JSON line per event on standard output.
import Foundation
import HydraLog
import NRIRuntimeSim
import NRIWire

let usage = """
usage: hydra-nri-sim --socket PATH --scenario FILE [options]

Plays the runtime side of NRI: listens on PATH, accepts one plugin, sends
Configure and Synchronize, then the scenario's pod events.

options:
  --socket PATH             unix socket to listen on (required)
  --scenario FILE           JSON scenario (required; see below)
  --request-timeout MS      request timeout announced and enforced, in ms (default 2000)
  --no-timeouts             announce no timeouts in Configure, as NRI v0.6 runtimes
  --style STYLE             stateChange, dedicated or automatic (default automatic)
  --sync-part-size N        pods per Synchronize part (default: all in one)
  --config STRING           plugin config string sent in Configure
  --accept-timeout MS       give up when no plugin registers in time (default 30000)

scenario: {"pods": [POD...], "synchronize": ["pod name", ...], "steps": [STEP...]}
  POD:  {"name": "a", "namespace": "default", "uid": "...", "id": "...",
         "netns": "/var/run/netns/a", "labels": {}, "annotations": {}, "ips": []}
  STEP: {"run": "a"} | {"stop": "a"} | {"remove": "a"}
        {"repeatRun": "a", "count": 1000}   (run+remove pairs; prints p50/p99 of run)
        {"waitForFile": "/path"}           (pause until the file exists)
        {"sleep": 500}                      (milliseconds)
        {"restart": true}                   (close the connection and accept the plugin again)
"""

struct ScenarioPod: Decodable {
    var name: String
    var namespace: String?
    var uid: String?
    var id: String?
    var netns: String?
    var labels: [String: String]?
    var annotations: [String: String]?
    var ips: [String]?

    var sandbox: PodSandbox {
        var namespaces: [LinuxNamespace] = []
        if let netns { namespaces.append(LinuxNamespace(type: "network", path: netns)) }
        return PodSandbox(id: id ?? "sandbox-\(name)", name: name, uid: uid ?? "uid-\(name)",
                          namespace: namespace ?? "default", labels: labels ?? [:], annotations: annotations ?? [:],
                          namespaces: namespaces, ips: ips ?? [])
    }
}

struct ScenarioStep: Decodable {
    var run: String?
    var stop: String?
    var remove: String?
    var repeatRun: String?
    var count: Int?
    var waitForFile: String?
    var sleep: Int?
    var restart: Bool?
}

struct Scenario: Decodable {
    var pods: [ScenarioPod]
    var synchronize: [String]?
    var steps: [ScenarioStep]
}

func fail(_ message: String) -> Never {
    LogSink.writeAll("hydra-nri-sim: \(message)\n", to: STDERR_FILENO)
    exit(2)
}

func emit(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    LogSink.writeAll(String(decoding: data, as: UTF8.self) + "\n", to: STDOUT_FILENO)
}

struct CommandLineOptions {
    var socketPath: String?
    var scenarioPath: String?
    var runtime = RuntimeOptions()
    var acceptTimeout: Duration = .seconds(30)

    init(_ rawArguments: [String]) {
        var arguments = rawArguments
        func value(_ flag: String) -> String {
            guard !arguments.isEmpty else { fail("\(flag) needs a value") }
            return arguments.removeFirst()
        }
        while let flag = arguments.first {
            arguments.removeFirst()
            switch flag {
            case "--socket": socketPath = value(flag)
            case "--scenario": scenarioPath = value(flag)
            case "--request-timeout":
                guard let ms = Int(value(flag)), ms > 0 else {
                    fail("--request-timeout needs a positive number of milliseconds")
                }
                runtime.requestTimeout = .milliseconds(ms)
            case "--no-timeouts": runtime.announceTimeouts = false
            case "--style":
                let name = value(flag)
                guard let style = EventStyle(rawValue: name) else {
                    fail("invalid --style \"\(name)\": expected stateChange, dedicated or automatic")
                }
                runtime.eventStyle = style
            case "--sync-part-size":
                guard let size = Int(value(flag)), size >= 0 else { fail("--sync-part-size needs a number") }
                runtime.synchronizePartSize = size
            case "--config": runtime.pluginConfig = value(flag)
            case "--accept-timeout":
                guard let ms = Int(value(flag)), ms > 0 else {
                    fail("--accept-timeout needs a positive number of milliseconds")
                }
                acceptTimeout = .milliseconds(ms)
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown option \"\(flag)\"\n\(usage)")
            }
        }
    }
}

let commandLine = CommandLineOptions(Array(CommandLine.arguments.dropFirst()))
let options = commandLine.runtime
let acceptTimeout = commandLine.acceptTimeout

guard let socketPath = commandLine.socketPath, let scenarioPath = commandLine.scenarioPath else { fail("--socket and --scenario are required\n\(usage)") }
let scenario: Scenario
do {
    scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(fileURLWithPath: scenarioPath)))
} catch {
    fail("failed to read scenario \(scenarioPath): \(error)")
}
let pods = Dictionary(scenario.pods.map { ($0.name, $0.sandbox) }, uniquingKeysWith: { first, _ in first })
let synchronized = (scenario.synchronize ?? []).map { name -> PodSandbox in
    guard let pod = pods[name] else { fail("scenario synchronizes unknown pod \"\(name)\"") }
    return pod
}

func pod(_ name: String) -> PodSandbox {
    guard let pod = pods[name] else { fail("scenario step names unknown pod \"\(name)\"") }
    return pod
}

func accept(_ simulator: RuntimeSimulator) async -> PluginConnection {
    let accepted = Task { try await simulator.acceptPlugin(options: options, pods: synchronized) }
    let timer = Task {
        try await Task.sleep(for: acceptTimeout)
        fail("no plugin registered within \(acceptTimeout)")
    }
    do {
        let connection = try await accepted.value
        timer.cancel()
        emit(["event": "registered", "plugin": connection.registration?.pluginName ?? "",
              "index": connection.registration?.pluginIndex ?? "",
              "events": Int(connection.configureResponse?.events ?? 0)])
        return connection
    } catch {
        fail("plugin handshake failed: \(error)")
    }
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

LogSink.shared.configure(level: .warning, format: .logfmt)
let simulator: RuntimeSimulator
do {
    simulator = try RuntimeSimulator(socketPath: socketPath)
} catch {
    fail("failed to listen on \(socketPath): \(error)")
}
emit(["event": "listening", "socket": socketPath])

var connection = await accept(simulator)
var failures = 0
for step in scenario.steps {
    if let name = step.run ?? step.stop ?? step.remove {
        let action = step.run != nil ? "run" : step.stop != nil ? "stop" : "remove"
        let started = ContinuousClock.now
        let outcome: EventOutcome
        switch action {
        case "run": outcome = await connection.runPodSandbox(pod(name))
        case "stop": outcome = await connection.stopPodSandbox(pod(name))
        default: outcome = await connection.removePodSandbox(pod(name))
        }
        if outcome != .succeeded { failures += 1 }
        emit(["event": action, "pod": name, "outcome": outcome.description, "ok": outcome == .succeeded,
              "ms": milliseconds(ContinuousClock.now - started)])
        if outcome == .timedOut { connection = await accept(simulator) }
    } else if let name = step.repeatRun {
        var samples: [Double] = []
        for index in 0..<(step.count ?? 1000) {
            var instance = pod(name)
            instance.id += "-\(index)"
            let started = ContinuousClock.now
            let outcome = await connection.runPodSandbox(instance)
            samples.append(milliseconds(ContinuousClock.now - started))
            _ = await connection.removePodSandbox(instance)
            if outcome != .succeeded { failures += 1 }
        }
        samples.sort()
        emit(["event": "repeatRun", "pod": name, "count": samples.count,
              "p50ms": percentile(samples, 0.5), "p99ms": percentile(samples, 0.99)])
    } else if let path = step.waitForFile {
        emit(["event": "waiting", "file": path])
        while !FileManager.default.fileExists(atPath: path) { try? await Task.sleep(for: .milliseconds(50)) }
    } else if let ms = step.sleep {
        try? await Task.sleep(for: .milliseconds(ms))
    } else if step.restart == true {
        connection.close()
        emit(["event": "restart"])
        connection = await accept(simulator)
    }
}
connection.close()
emit(["event": "done", "failures": failures])
exit(failures == 0 ? 0 : 1)
