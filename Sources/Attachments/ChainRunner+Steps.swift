import BackendHost
import BackendSDK
import CNI
import CNIExec
import Foundation
import Orchestrator

/// A chain ready to run: the version every plugin gets and, per plugin, the
/// backend serving it (nil for an executed plugin) and its runtime config.
struct PreparedChain: Sendable {
    var chain: PluginChain
    var version: String
    var steps: [ChainStep]
}

struct ChainStep: Sendable {
    var plugin: ChainPlugin
    var backend: LoadedBackend?
    /// The runtimeConfig keys this plugin declared (or, natively, accepts).
    var runtimeConfig: [String: JSONValue]
}

extension ChainRunner {
    /// Parses the configuration, picks each plugin's runner, filters the
    /// runtime config per plugin and settles the version: `knownVersion`
    /// (the version of the cached ADD result) when `cniVersions` allows it,
    /// else the negotiated one. With `validateCapabilities`, rejects a
    /// request for a mandatory capability no plugin declares.
    func prepare(_ request: AttachmentRequest, deadline: ContinuousClock.Instant, validateCapabilities: Bool,
                 knownVersion: String? = nil) async throws -> PreparedChain {
        let chain = try PluginChain(config: request.config, network: request.network)
        let steps = steps(of: chain, runtimeConfig: request.runtimeConfig)
        if validateCapabilities {
            let accepted = steps.map { CapabilityArguments.accepted(by: $0.plugin, isNative: $0.backend != nil) }
            try CapabilityArguments.validate(request.runtimeConfig, acceptedPerPlugin: accepted, network: request.network)
        }

        guard let allowed = chain.cniVersions else {
            return PreparedChain(chain: chain, version: chain.cniVersion, steps: steps)
        }
        if let knownVersion, allowed.contains(knownVersion) {
            return PreparedChain(chain: chain, version: knownVersion, steps: steps)
        }
        let executedTypes = steps.filter { $0.backend == nil }.map(\.plugin.type)
        let negotiator = self.negotiator
        let nanoseconds = Self.absoluteDeadline(deadline)
        let version = try await Self.blocking {
            try negotiator.version(for: chain, executedTypes: executedTypes, deadlineNanoseconds: nanoseconds)
        }
        return PreparedChain(chain: chain, version: version, steps: steps)
    }

    func steps(of chain: PluginChain, runtimeConfig: [String: JSONValue]) -> [ChainStep] {
        chain.plugins.map { plugin in
            let backend = backends.backend(forType: plugin.type)
            let accepted = CapabilityArguments.accepted(by: plugin, isNative: backend != nil)
            return ChainStep(plugin: plugin, backend: backend,
                             runtimeConfig: CapabilityArguments.filter(runtimeConfig, accepted: accepted))
        }
    }

    // MARK: One plugin

    func add(_ step: ChainStep, _ prepared: PreparedChain, _ request: AttachmentRequest, prevResult: CNIResult?,
             deadline: ContinuousClock.Instant) async throws -> CNIResult {
        try await wrap(step, "ADD", request) {
            let input = try step.plugin.input(name: prepared.chain.name, version: prepared.version,
                                              runtimeConfig: step.runtimeConfig, prevResult: prevResult)
            if let backend = step.backend {
                return try await backend.attach(backendRequest(step, input, request), deadline: Self.deadline(deadline))
            }
            let invocation = invocation("ADD", step, input, request)
            let executor = self.executor
            let nanoseconds = Self.absoluteDeadline(deadline)
            return try await Self.blocking { try executor.add(invocation, deadlineNanoseconds: nanoseconds) }
        }
    }

    func delete(_ step: ChainStep, _ prepared: PreparedChain, _ request: AttachmentRequest, prevResult: CNIResult?,
                deadline: ContinuousClock.Instant) async throws {
        try await wrap(step, "DEL", request) {
            let input = try step.plugin.input(name: prepared.chain.name, version: prepared.version,
                                              runtimeConfig: step.runtimeConfig, prevResult: prevResult)
            if let backend = step.backend {
                try await backend.detach(backendRequest(step, input, request), deadline: Self.deadline(deadline))
                return
            }
            let invocation = invocation("DEL", step, input, request)
            let executor = self.executor
            let nanoseconds = Self.absoluteDeadline(deadline)
            try await Self.blocking { try executor.delete(invocation, deadlineNanoseconds: nanoseconds) }
        }
    }

    func checkStep(_ step: ChainStep, _ prepared: PreparedChain, _ request: AttachmentRequest, prevResult: CNIResult,
                   deadline: ContinuousClock.Instant) async throws {
        try await wrap(step, "CHECK", request) {
            let input = try step.plugin.input(name: prepared.chain.name, version: prepared.version,
                                              runtimeConfig: step.runtimeConfig, prevResult: prevResult)
            if let backend = step.backend {
                try await backend.check(backendRequest(step, input, request), deadline: Self.deadline(deadline))
                return
            }
            let invocation = invocation("CHECK", step, input, request)
            let executor = self.executor
            let nanoseconds = Self.absoluteDeadline(deadline)
            try await Self.blocking { try executor.check(invocation, deadlineNanoseconds: nanoseconds) }
        }
    }

    /// Runs `body` and wraps its error in a `ChainStepError` naming the plugin.
    private func wrap<T>(_ step: ChainStep, _ command: String, _ request: AttachmentRequest,
                         _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            let failure = ChainStepError(network: request.network, index: step.plugin.index, type: step.plugin.type,
                                         command: command, underlying: error)
            logger.with(request.podLogFields).warning(
                "chain plugin failed",
                [("network", request.network), ("interface", request.interface), ("error", failure.description)])
            throw failure
        }
    }

    /// Builds the in-process request: the same input an executed plugin gets on
    /// stdin, with `prevResult` and `runtimeConfig` also as separate fields.
    private func backendRequest(_ step: ChainStep, _ input: JSONValue, _ request: AttachmentRequest) -> AttachRequest {
        var config = input.objectValue ?? [:]
        let prevResult = config.removeValue(forKey: "prevResult")
        return AttachRequest(sandboxID: request.sandboxID, podName: request.pod.name,
                             podNamespace: request.pod.namespace, podUID: request.pod.uid, netns: request.netnsPath,
                             ifName: request.interface, networkName: request.statusName, config: .object(config),
                             runtimeConfig: step.runtimeConfig, args: request.cniArgs, prevResult: prevResult)
    }

    private func invocation(_ command: String, _ step: ChainStep, _ input: JSONValue,
                            _ request: AttachmentRequest) -> CNIInvocation {
        CNIInvocation(command: command, pluginType: step.plugin.type, stdinData: input.encoded(),
                      containerID: request.sandboxID, netns: request.netnsPath, ifName: request.interface,
                      args: Self.cniArguments(request.cniArgs))
    }

    /// CNI_ARGS in the kubelet's order: `IgnoreUnknown=1`, the four K8S_*
    /// keys, then the network's own arguments sorted by key.
    static func cniArguments(_ args: [String: String]) -> [(key: String, value: String)] {
        let leading = ["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]
        var result: [(key: String, value: String)] = [(key: "IgnoreUnknown", value: "1")]
        for key in leading {
            if let value = args[key] { result.append((key: key, value: value)) }
        }
        let excluded = Set(leading + ["IgnoreUnknown"])
        for (key, value) in args.sorted(by: { $0.key < $1.key }) where !excluded.contains(key) {
            result.append((key: key, value: value))
        }
        return result
    }

    // MARK: Deadlines and blocking work

    static func nanoseconds(until deadline: ContinuousClock.Instant) -> Int64 {
        let remaining = deadline - ContinuousClock.now
        let components = remaining.components
        return max(1, components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    /// Converts a deadline to the executor's form: an absolute CLOCK_MONOTONIC time in ns.
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
