import Foundation
import HydraLog
import NRIPlugin
import NRIRuntimeSim
import NRIWire

/// A PodLifecycleHandler that records every call and can be told to fail
/// or to take its time.
final class RecordingHandler: PodLifecycleHandler, @unchecked Sendable {
    enum Call: Equatable {
        case run(String), stop(String), remove(String), synchronize([String]), abandoned(String), configure(String)
    }

    private let lock = NSLock()
    private var recorded: [Call] = []
    var runDelay: Duration = .zero
    var runError: String?
    var configureError: String?

    var calls: [Call] { lock.withLock { recorded } }

    private func record(_ call: Call) { lock.withLock { recorded.append(call) } }

    func runPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async throws {
        if runDelay > .zero { try? await Task.sleep(for: runDelay) }
        record(.run(pod.id))
        if let runError { throw TestFailure(message: runError) }
    }

    func stopPodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async { record(.stop(pod.id)) }
    func removePodSandbox(_ pod: PodSandbox, deadline: ContinuousClock.Instant) async { record(.remove(pod.id)) }
    func synchronize(pods: [PodSandbox]) async { record(.synchronize(pods.map(\.id))) }
    func abandoned(_ pod: PodSandbox) async { record(.abandoned(pod.id)) }

    func configure(runtimeConfig: String) async throws {
        record(.configure(runtimeConfig))
        if let configureError { throw TestFailure(message: configureError) }
    }

    /// Waits until `condition` holds on the recorded calls, up to `timeout`.
    func waitFor(_ timeout: Duration = .seconds(5), _ condition: ([Call]) -> Bool) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if condition(calls) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(calls)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A unique socket path in a fresh temporary directory.
func temporarySocketPath() -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("hydra-nri-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    SocketDirectories.shared.add(directory.path)
    return directory.appendingPathComponent("nri.sock").path
}

/// The directories `temporarySocketPath` made, removed when the test process exits.
final class SocketDirectories: @unchecked Sendable {
    static let shared = SocketDirectories()

    // Sendable: `paths` is only touched with `lock` held.
    private let lock = NSLock()
    private var paths: [String] = []

    private init() {
        atexit { SocketDirectories.shared.removeAll() }
    }

    func add(_ path: String) {
        lock.withLock { paths.append(path) }
    }

    private func removeAll() {
        for path in lock.withLock({ paths }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

func samplePod(_ name: String, netns: String = "/var/run/netns/test") -> PodSandbox {
    PodSandbox(id: "sandbox-\(name)", name: name, uid: "uid-\(name)", namespace: "default",
               labels: ["app": name], annotations: ["k8s.v1.cni.cncf.io/networks": "macvlan-conf@net1"],
               namespaces: [LinuxNamespace(type: "network", path: netns)], ips: ["10.88.0.9"])
}

/// Starts a plugin host against `socketPath` and returns it with the task
/// running it.
func startPlugin(socketPath: String, handler: RecordingHandler,
                 reconnectDelay: Duration = .milliseconds(50)) -> (PluginHost, Task<PluginExit, Never>) {
    let options = PluginOptions(socketPath: socketPath, pluginName: "hydra", pluginIndex: "50",
                                initialReconnectDelay: reconnectDelay, maxReconnectDelay: .milliseconds(400))
    let host = PluginHost(options: options, handler: handler, logger: Logger(component: "nri-test"))
    let task = Task { await host.run() }
    return (host, task)
}
