import BackendHost
import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog
import Orchestrator

/// Runs a network's CNI configuration, a single plugin or a plugin list,
/// entry by entry: an entry whose `type` a loaded native backend serves runs
/// in-process, any other through the CNI executor. ADD chains `prevResult`
/// from one entry to the next; DEL runs in reverse order with the recorded
/// result as `prevResult`, and continues past failures.
public struct ChainRunner: AttachmentRunner {
    public let backends: BackendSet
    public let executor: CNIExecutor
    private let logger: Logger

    public init(backends: BackendSet, executor: CNIExecutor, logger: Logger = Logger(component: "chain")) {
        self.backends = backends
        self.executor = executor
        self.logger = logger
    }

    /// One entry of a plugin list with `name` and `cniVersion` injected, as
    /// libcni does before it runs the entry.
    struct Entry {
        var type: String
        var config: JSONValue
    }

    static func entries(of config: JSONValue, network: String) throws -> [Entry] {
        let version = config["cniVersion"]?.stringValue ?? CNIVersion.current.description
        let name = config["name"]?.stringValue ?? network
        let plugins: [JSONValue]
        if let list = config["plugins"]?.arrayValue {
            plugins = list
        } else {
            plugins = [config]
        }
        guard !plugins.isEmpty else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "network \"\(network)\" has an empty plugin list")
        }
        return try plugins.enumerated().map { index, plugin in
            guard var object = plugin.objectValue, let type = object["type"]?.stringValue, !type.isEmpty else {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "network \"\(network)\": plugin \(index) has no \"type\"")
            }
            object["name"] = .string(name)
            object["cniVersion"] = .string(version)
            // `capabilities` tells the runtime what to pass; plugins never see it.
            object.removeValue(forKey: "capabilities")
            object.removeValue(forKey: "plugins")
            return Entry(type: type, config: .object(object))
        }
    }

    public func attach(_ request: AttachmentRequest, deadline: ContinuousClock.Instant) async throws -> CNIResult {
        let entries = try Self.entries(of: request.config, network: request.network)
        var previous: CNIResult?
        for entry in entries {
            previous = try await add(entry, request: request, prevResult: previous, deadline: deadline)
        }
        guard let result = previous else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "network \"\(request.network)\" produced no result")
        }
        // NOTE: `default-route` from the selection annotation is not applied
        // yet; the pod keeps the default route its default CNI installed.
        return result
    }

    public func detach(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let request = record.request
        let entries = try Self.entries(of: request.config, network: request.network)
        var failures: [String] = []
        for entry in entries.reversed() {
            do {
                try await delete(entry, request: request, prevResult: record.result, deadline: deadline)
            } catch {
                failures.append("\(entry.type): \(error)")
            }
        }
        if !failures.isEmpty {
            throw CNIError(code: CNIError.ioFailure,
                           msg: "failed to detach network \"\(request.network)\": \(failures.joined(separator: "; "))")
        }
    }

    public func check(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let request = record.request
        for entry in try Self.entries(of: request.config, network: request.network) {
            if let backend = backends.backend(forType: entry.type) {
                var attach = backendRequest(entry, request)
                attach.prevResult = try record.result?.jsonValue(as: entry.config["cniVersion"]?.stringValue)
                try await backend.check(attach, deadline: Self.deadline(deadline))
            } else {
                let invocation = try invocation("CHECK", entry, request, prevResult: record.result)
                let executor = self.executor
                let nanoseconds = Self.absoluteDeadline(deadline)
                try await Self.blocking { try executor.check(invocation, deadlineNanoseconds: nanoseconds) }
            }
        }
    }

    // MARK: One entry

    private func add(_ entry: Entry, request: AttachmentRequest, prevResult: CNIResult?,
                     deadline: ContinuousClock.Instant) async throws -> CNIResult {
        if let backend = backends.backend(forType: entry.type) {
            var attach = backendRequest(entry, request)
            attach.prevResult = try prevResult?.jsonValue(as: entry.config["cniVersion"]?.stringValue)
            return try await backend.attach(attach, deadline: Self.deadline(deadline))
        }
        let invocation = try invocation("ADD", entry, request, prevResult: prevResult)
        let executor = self.executor
        let nanoseconds = Self.absoluteDeadline(deadline)
        return try await Self.blocking { try executor.add(invocation, deadlineNanoseconds: nanoseconds) }
    }

    private func delete(_ entry: Entry, request: AttachmentRequest, prevResult: CNIResult?,
                        deadline: ContinuousClock.Instant) async throws {
        if let backend = backends.backend(forType: entry.type) {
            var detach = backendRequest(entry, request)
            detach.prevResult = try prevResult?.jsonValue(as: entry.config["cniVersion"]?.stringValue)
            try await backend.detach(detach, deadline: Self.deadline(deadline))
            return
        }
        let invocation = try invocation("DEL", entry, request, prevResult: prevResult)
        let executor = self.executor
        let nanoseconds = Self.absoluteDeadline(deadline)
        try await Self.blocking { try executor.delete(invocation, deadlineNanoseconds: nanoseconds) }
    }

    private func backendRequest(_ entry: Entry, _ request: AttachmentRequest) -> AttachRequest {
        AttachRequest(sandboxID: request.sandboxID, podName: request.pod.name, podNamespace: request.pod.namespace,
                      podUID: request.pod.uid, netns: request.netnsPath, ifName: request.interface,
                      networkName: request.statusName, config: entry.config, runtimeConfig: request.runtimeConfig,
                      args: request.cniArgs)
    }

    /// The CNI invocation of an executed plugin: configuration on stdin with
    /// runtimeConfig and prevResult added, the pod's CNI_ARGS.
    private func invocation(_ command: String, _ entry: Entry, _ request: AttachmentRequest,
                            prevResult: CNIResult?) throws -> CNIInvocation {
        var config = entry.config.objectValue ?? [:]
        if !request.runtimeConfig.isEmpty { config["runtimeConfig"] = .object(request.runtimeConfig) }
        if let prevResult { config["prevResult"] = try prevResult.jsonValue(as: config["cniVersion"]?.stringValue) }
        // NOTE: runtime config goes to every executed plugin; libcni passes
        // only the keys a plugin declares in `capabilities`.
        let args = request.cniArgs.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        return CNIInvocation(command: command, pluginType: entry.type, stdinData: JSONValue.object(config).encoded(),
                             containerID: request.sandboxID, netns: request.netnsPath, ifName: request.interface,
                             args: args)
    }

    // MARK: Deadlines and blocking work

    static func nanoseconds(until deadline: ContinuousClock.Instant) -> Int64 {
        let remaining = deadline - ContinuousClock.now
        let components = remaining.components
        return max(1, components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    /// The executor's deadline: an absolute CLOCK_MONOTONIC time in ns.
    static func absoluteDeadline(_ instant: ContinuousClock.Instant) -> Int64 {
        MonotonicClock.now() + nanoseconds(until: instant)
    }

    static func deadline(_ instant: ContinuousClock.Instant) -> Deadline {
        Deadline(monotonicNanoseconds: Deadline.now() + nanoseconds(until: instant))
    }

    /// Runs blocking work (a plugin process) on its own thread, so that it
    /// never occupies a Swift concurrency thread.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.start()
        }
    }
}
