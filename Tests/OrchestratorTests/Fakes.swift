import CNI
import Foundation
import NRIWire
@testable import Orchestrator

/// A value behind a lock, for fakes shared across tasks.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    var current: Value { with { $0 } }
}

struct FakeFailure: Error, CustomStringConvertible {
    var description: String
}

/// A runner that records every call and fails the attaches or detaches of
/// chosen interfaces.
final class FakeRunner: AttachmentRunner, @unchecked Sendable {
    let calls = Box<[String]>([])
    let failAttach = Box<Set<String>>([])
    let failDetach = Box<Set<String>>([])
    /// Delay of each attach, to observe concurrency.
    let attachDelay = Box<Duration>(.zero)
    /// Number of attaches running at once, and the highest seen.
    let running = Box<(now: Int, max: Int)>((0, 0))

    func attach(_ request: AttachmentRequest, deadline: ContinuousClock.Instant) async throws -> CNIResult {
        calls.with { $0.append("attach \(request.sandboxID) \(request.network) \(request.interface)") }
        running.with { $0 = ($0.now + 1, max($0.max, $0.now + 1)) }
        defer { running.with { $0.now -= 1 } }
        let delay = attachDelay.current
        if delay > .zero { try await Task.sleep(for: delay) }
        if failAttach.current.contains(request.interface) {
            throw FakeFailure(description: "fake attach failure on \(request.interface)")
        }
        let index = calls.current.count
        return CNIResult(cniVersion: "1.0.0",
                         interfaces: [CNIResult.Interface(name: request.interface, mac: "02:00:00:00:00:\(String(format: "%02x", index))",
                                                          sandbox: request.netnsPath)],
                         ips: [CNIResult.IPConfig(address: "10.250.0.\(index)/24", gateway: "10.250.0.1", interface: 0)])
    }

    func detach(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let state = record.result == nil ? "intent" : "attached"
        calls.with { $0.append("detach \(record.request.sandboxID) \(record.request.network) \(record.request.interface) \(state)") }
        if failDetach.current.contains(record.request.interface) {
            throw FakeFailure(description: "fake detach failure on \(record.request.interface)")
        }
    }

    func check(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {}
}

/// NetworkAttachmentDefinitions held in memory.
struct FakeDefinitions: NetworkDefinitionSource {
    var items: [String: NetworkAttachmentDefinition] = [:]
    var failure: String?
    var delay: Duration = .zero

    init(_ definitions: [NetworkAttachmentDefinition] = [], failure: String? = nil, delay: Duration = .zero) {
        for definition in definitions { items["\(definition.namespace)/\(definition.name)"] = definition }
        self.failure = failure
        self.delay = delay
    }

    func networkAttachmentDefinition(namespace: String, name: String) async throws -> NetworkAttachmentDefinition? {
        if delay > .zero { try await Task.sleep(for: delay) }
        if let failure { throw FakeFailure(description: failure) }
        return items["\(namespace)/\(name)"]
    }
}

final class RecordingPublisher: PodStatusPublisher, @unchecked Sendable {
    let patches = Box<[(PodReference, [String: String])]>([])
    func enqueue(pod: PodReference, annotations: [String: String]) {
        patches.with { $0.append((pod, annotations)) }
    }
}

final class RecordingEvents: PodEventRecorder, @unchecked Sendable {
    let events = Box<[(PodReference, PodEventType, String, String)]>([])
    func record(pod: PodReference, type: PodEventType, reason: String, message: String) {
        events.with { $0.append((pod, type, reason, message)) }
    }
    var reasons: [String] { events.current.map(\.2) }
}

/// A temporary state directory, deleted by `remove()`.
struct TemporaryDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "hydra-orchestrator-test-" + UUID().uuidString.prefix(8).lowercased()
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

func bridgeConfig(_ name: String) -> JSONValue {
    ["cniVersion": "1.0.0", "type": "bridge", "bridge": .string("br-\(name)"),
     "ipam": ["type": "host-local", "ranges": [[["subnet": "10.250.0.0/24"]]]]]
}

func makePod(id: String, namespace: String = "default", name: String = "web", labels: [String: String] = [:],
             annotations: [String: String] = [:], netns: String? = "/proc/self/ns/net", ips: [String] = ["10.0.0.5"]) -> PodSandbox {
    PodSandbox(id: id, name: name, uid: "uid-\(id)", namespace: namespace, labels: labels, annotations: annotations,
               namespaces: netns.map { [LinuxNamespace(type: "network", path: $0)] } ?? [], ips: ips)
}

let farDeadline = ContinuousClock.now + .seconds(3600)
