import BackendHost
import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog
import Orchestrator

/// Runs a network's CNI configuration, a single plugin or a plugin list,
/// entry by entry with libcni's semantics (pkg/libcni/api.go): an entry
/// whose `type` a loaded native backend serves runs in-process, any other
/// through the CNI executor.
///
/// ADD chains `prevResult` from one entry to the next, converted to the
/// chain's version, and caches the final result. DEL runs in reverse order
/// with the cached result as `prevResult` and continues past failures. CHECK
/// runs in order with the cached result. GC and STATUS are in
/// ChainRunner+Maintenance.swift.
public struct ChainRunner: AttachmentRunner {
    public let backends: BackendSet
    public let executor: CNIExecutor
    /// The result cache directory (libcni's cacheDir), for example
    /// `<stateDir>/cni-cache`; nil disables the cache, and DEL and CHECK
    /// then use the result in Hydra's attachment record.
    public let cacheDirectory: String?
    let cache: ResultCache?
    let negotiator: VersionNegotiator
    let logger: Logger

    public init(backends: BackendSet, executor: CNIExecutor, cacheDirectory: String? = nil,
                logger: Logger = Logger(component: "chain")) {
        self.backends = backends
        self.executor = executor
        self.cacheDirectory = cacheDirectory
        self.cache = cacheDirectory.map { ResultCache(directory: $0) }
        self.negotiator = VersionNegotiator(executor: executor)
        self.logger = logger
    }

    /// Runs ADD on every plugin in order, writes the cache entry, then
    /// applies `request.defaultRoute`. Returns the last plugin's result in
    /// the chain's version. On failure nothing is undone here: the caller
    /// runs `detach`, which deletes every plugin of the chain.
    public func attach(_ request: AttachmentRequest, deadline: ContinuousClock.Instant) async throws -> CNIResult {
        let prepared = try await prepare(request, deadline: deadline, validateCapabilities: true)
        var previous: CNIResult?
        for step in prepared.steps {
            previous = try await add(step, prepared, request, prevResult: previous, deadline: deadline)
        }
        guard let last = previous else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "network \"\(request.network)\" produced no result")
        }
        let result = try last.converted(to: prepared.version)

        if let cache {
            let entry = CachedAttachment(
                containerID: request.sandboxID, networkName: prepared.chain.name, ifName: request.interface,
                netns: request.netnsPath, config: request.config.encoded(), cniArgs: Self.cniArguments(request.cniArgs),
                capabilityArgs: request.runtimeConfig, result: try result.jsonValue())
            do {
                try cache.write(entry)
            } catch {
                // libcni fails the ADD too: a DEL without the cached result
                // could not release what this ADD took.
                throw CNIError(code: CNIError.ioFailure, msg: "network \"\(request.network)\": \(error)")
            }
        }

        if !request.defaultRoute.isEmpty {
            try await DefaultRoute.replace(gateways: request.defaultRoute, interface: request.interface,
                                           netnsPath: request.netnsPath, logger: logger,
                                           podLogFields: request.podLogFields)
        }
        return result
    }

    /// Runs DEL on every plugin in reverse order, continuing past failures,
    /// and removes the cache entry once every DEL succeeded. `prevResult`
    /// is the cached result (for chains at 0.4.0 and later, as in libcni),
    /// or the record's result when the cache has no entry. An unreadable
    /// entry is logged and DEL runs without `prevResult`.
    static func isMissingPlugin(_ error: ChainStepError) -> Bool {
        if case .pluginNotFound = error.underlying as? CNIExecError { return true }
        return false
    }

    public func detach(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let request = record.request
        let chain = try PluginChain(config: request.config, network: request.network)
        var cached: CNIResult? = record.result
        var cacheProblem = false
        if let cache {
            do {
                if let entry = try cache.read(network: chain.name, containerID: request.sandboxID,
                                              ifName: request.interface), let result = entry.result {
                    cached = try CNIResult(json: result)
                }
            } catch {
                cacheProblem = true
                cached = nil
                logger.with(request.podLogFields).warning("cached result unusable; running DEL without prevResult",
                               [("network", request.network), ("interface", request.interface),
                                ("error", "\(error)")])
            }
        }
        // DEL must run even when negotiation fails, for example because a
        // plugin binary was removed: fall back to the version ADD used.
        let prepared: PreparedChain
        do {
            prepared = try await prepare(request, deadline: deadline, validateCapabilities: false,
                                         knownVersion: cached?.cniVersion)
        } catch {
            prepared = PreparedChain(chain: chain, version: cached?.cniVersion ?? chain.cniVersion,
                                     steps: steps(of: chain, runtimeConfig: request.runtimeConfig))
        }
        let hasPrevResult = (CNIVersion(prepared.version) ?? .v0_3_0) >= .v0_4_0
        let prevResult = hasPrevResult ? cached : nil

        var failures: [String] = []
        for step in prepared.steps.reversed() {
            do {
                try await delete(step, prepared, request, prevResult: prevResult, deadline: deadline)
            } catch let error as ChainStepError where record.result == nil && Self.isMissingPlugin(error) {
                // An attach that never completed cannot have run a plugin
                // whose binary does not exist, so there is nothing to delete.
                logger.with(request.podLogFields).info(
                    "skipping DEL of a plugin that is not installed; its attach never completed",
                    [("network", request.network), ("type", error.type)])
            } catch {
                failures.append("\(error)")
            }
        }
        guard failures.isEmpty else {
            throw CNIError(code: CNIError.ioFailure,
                           msg: "failed to detach network \"\(request.network)\": \(failures.joined(separator: "; "))")
        }
        if let cache {
            cache.remove(network: chain.name, containerID: request.sandboxID, ifName: request.interface)
            if cacheProblem {
                logger.with(request.podLogFields).info("removed the unusable cache entry after DEL succeeded",
                                                       [("network", request.network)])
            }
        }
    }

    /// Runs CHECK on every plugin in order with the cached result as
    /// `prevResult`. Chains before 0.4.0 have no CHECK and fail with code 1;
    /// `disableCheck` makes CHECK succeed without running anything.
    public func check(_ record: AttachmentRecord, deadline: ContinuousClock.Instant) async throws {
        let request = record.request
        var cached: CNIResult? = record.result
        let chain = try PluginChain(config: request.config, network: request.network)
        if let cache, let entry = try cache.read(network: chain.name, containerID: request.sandboxID,
                                                 ifName: request.interface), let result = entry.result {
            cached = try CNIResult(json: result)
        }
        let prepared = try await prepare(request, deadline: deadline, validateCapabilities: false,
                                         knownVersion: cached?.cniVersion)
        guard (CNIVersion(prepared.version) ?? .v0_3_0) >= .v0_4_0 else {
            throw CNIError(code: CNIError.incompatibleCNIVersion,
                           msg: "network \"\(request.network)\": configuration version \"\(prepared.version)\" does not support the CHECK command")
        }
        if prepared.chain.disableCheck { return }
        guard let cached else {
            throw CNIError(code: CNIError.ioFailure,
                           msg: "network \"\(request.network)\": no cached result for sandbox \(request.sandboxID) interface \(request.interface) to CHECK against")
        }
        for step in prepared.steps {
            try await checkStep(step, prepared, request, prevResult: cached, deadline: deadline)
        }
    }
}
