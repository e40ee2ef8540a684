import BackendSDK
import CNI
import CNIExec
import Foundation
import Orchestrator

/// One attachment that is still in use, for GC: CNI's (containerID, ifname) pair.
public struct ValidAttachment: Sendable, Hashable {
    public var containerID: String
    public var ifName: String

    public init(containerID: String, ifName: String) {
        self.containerID = containerID
        self.ifName = ifName
    }
}

extension ChainRunner {
    /// Garbage-collects one network as libcni's GCNetworkList does (CNI
    /// 1.1), unless the configuration sets `disableGC`. First it runs DEL
    /// for every cached attachment of the network that `valid` does not
    /// list. Then, for chains at 1.1.0 or later, it sends GC to every plugin
    /// with the valid list in `cni.dev/valid-attachments`, and also in
    /// `cni.dev/attachments`, the name an earlier specification text used,
    /// which newer libcni releases send as well. Native backends get their gc call,
    /// and those without one are skipped. Every failure is collected and
    /// thrown together at the end.
    public func garbageCollect(network: String, config: JSONValue, valid: [ValidAttachment],
                               deadline: ContinuousClock.Instant) async throws {
        let chain = try PluginChain(config: config, network: network)
        if chain.disableGC { return }
        var failures: [String] = []

        if let cache {
            let validSet = Set(valid)
            let (entries, unreadable) = cache.entries(network: chain.name)
            for problem in unreadable {
                logger.warning("GC skipped an unreadable cache entry", [("network", network), ("error", "\(problem)")])
            }
            for entry in entries where !validSet.contains(ValidAttachment(containerID: entry.containerID, ifName: entry.ifName)) {
                let request = staleRequest(entry, network: network, config: config)
                do {
                    try await detach(AttachmentRecord(request: request), deadline: deadline)
                    logger.with(request.podLogFields).info("GC deleted a stale attachment",
                                                           [("network", network), ("interface", entry.ifName)])
                } catch {
                    failures.append("failed to delete stale attachment \(entry.containerID) \(entry.ifName): \(error)")
                }
            }
        }

        let request = AttachmentRequest(sandboxID: "", pod: PodReference(namespace: "", name: "", uid: ""),
                                        netnsPath: "", network: network, definitionNamespace: nil, interface: "",
                                        config: config, runtimeConfig: [:], defaultRoute: [], cniArgs: [:])
        let prepared = try await prepare(request, deadline: deadline, validateCapabilities: false)
        if (CNIVersion(prepared.version) ?? .v0_3_0) >= .v1_1_0 {
            let attachments = JSONValue.array(valid.map {
                .object(["containerID": .string($0.containerID), "ifname": .string($0.ifName)])
            })
            for step in prepared.steps {
                do {
                    try await gcStep(step, prepared, network: network, attachments: attachments, valid: valid,
                                    deadline: deadline)
                } catch {
                    failures.append("\(ChainStepError(network: network, index: step.plugin.index, type: step.plugin.type, command: "GC", underlying: error))")
                }
            }
        }
        guard failures.isEmpty else {
            throw CNIError(code: CNIError.ioFailure, msg: "GC of network \"\(network)\" failed: \(failures.joined(separator: "; "))")
        }
    }

    /// Asks every plugin of the network for its STATUS (CNI 1.1), in order,
    /// and throws the first failure: a `ChainStepError` whose `cniError`
    /// carries the plugin's code, 50 (plugin not available) or 51 (limited
    /// connectivity) per the specification. Chains before 1.1.0 have no
    /// STATUS and succeed, as in libcni. A native backend that loaded is
    /// available. This is what a readiness check calls.
    public func status(network: String, config: JSONValue, deadline: ContinuousClock.Instant) async throws {
        let request = AttachmentRequest(sandboxID: "", pod: PodReference(namespace: "", name: "", uid: ""),
                                        netnsPath: "", network: network, definitionNamespace: nil, interface: "",
                                        config: config, runtimeConfig: [:], defaultRoute: [], cniArgs: [:])
        let prepared = try await prepare(request, deadline: deadline, validateCapabilities: false)
        guard (CNIVersion(prepared.version) ?? .v0_3_0) >= .v1_1_0 else { return }
        for step in prepared.steps where step.backend == nil {
            let input = try step.plugin.input(name: prepared.chain.name, version: prepared.version,
                                              runtimeConfig: [:], prevResult: nil)
            let invocation = CNIInvocation(command: "STATUS", pluginType: step.plugin.type, stdinData: input.encoded())
            let executor = self.executor
            let nanoseconds = Self.absoluteDeadline(deadline)
            do {
                _ = try await Self.blocking { try executor.execute(invocation, deadlineNanoseconds: nanoseconds) }
            } catch {
                throw ChainStepError(network: network, index: step.plugin.index, type: step.plugin.type,
                                     command: "STATUS", underlying: error)
            }
        }
    }

    /// Sends GC to one plugin. A native backend gets Hydra's network name,
    /// the name its attach requests carried.
    private func gcStep(_ step: ChainStep, _ prepared: PreparedChain, network: String, attachments: JSONValue,
                        valid: [ValidAttachment], deadline: ContinuousClock.Instant) async throws {
        if let backend = step.backend {
            guard backend.library.hasGarbageCollection else { return }
            let request = GCRequest(validAttachments: valid.map {
                AttachmentID(sandboxID: $0.containerID, networkName: network, ifName: $0.ifName)
            })
            try await backend.garbageCollect(request, deadline: Self.deadline(deadline))
            return
        }
        guard case .object(var input) = try step.plugin.input(name: prepared.chain.name, version: prepared.version,
                                                              runtimeConfig: [:], prevResult: nil) else { return }
        input["cni.dev/valid-attachments"] = attachments
        input["cni.dev/attachments"] = attachments
        let invocation = CNIInvocation(command: "GC", pluginType: step.plugin.type,
                                       stdinData: JSONValue.object(input).encoded())
        let executor = self.executor
        let nanoseconds = Self.absoluteDeadline(deadline)
        _ = try await Self.blocking { try executor.execute(invocation, deadlineNanoseconds: nanoseconds) }
    }

    /// Rebuilds the DEL request of a cached attachment from its entry.
    private func staleRequest(_ entry: CachedAttachment, network: String, config: JSONValue) -> AttachmentRequest {
        var args: [String: String] = [:]
        for pair in entry.cniArgs { args[pair.key] = pair.value }
        let pod = PodReference(namespace: args["K8S_POD_NAMESPACE"] ?? "", name: args["K8S_POD_NAME"] ?? "",
                               uid: args["K8S_POD_UID"] ?? "")
        return AttachmentRequest(sandboxID: entry.containerID, pod: pod, netnsPath: entry.netns, network: network,
                                 definitionNamespace: nil, interface: entry.ifName, config: config,
                                 runtimeConfig: entry.capabilityArgs, defaultRoute: [], cniArgs: args)
    }
}
