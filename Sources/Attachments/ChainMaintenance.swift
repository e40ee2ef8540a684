import CNI
import Foundation
import HydraLog
import Orchestrator

/// Runs the CNI 1.1 maintenance verbs of every configured network off the
/// attach path: STATUS into `ChainHealth`, which `/readyz` reads, and GC
/// with the attachments that Hydra's records still contain.
public struct ChainMaintenance: Sendable {
    public let runner: ChainRunner
    /// The networks to maintain, read again on every pass so that a
    /// configuration change is followed.
    /// NOTE: the daemon passes the configuration file's networks only, so
    /// networks from NetworkAttachmentDefinitions, and networks removed from
    /// the file, get neither STATUS nor GC.
    public let networks: @Sendable () -> [NetworkDefinition]
    /// Hydra's state directory, whose `sandboxes/` contains the records.
    public let stateDirectory: String
    public let health: ChainHealth
    /// The time one network's STATUS or GC may take.
    public let callTimeout: Duration
    let logger: Logger

    /// A cache entry written this long before the record listing started,
    /// or later, is kept by GC: its attach may have saved its intent after
    /// the listing read that sandbox's file.
    static let cacheGrace: TimeInterval = 2

    public init(runner: ChainRunner, networks: @escaping @Sendable () -> [NetworkDefinition], stateDirectory: String,
                health: ChainHealth, callTimeout: Duration = .seconds(30),
                logger: Logger = Logger(component: "chain-maintenance")) {
        self.runner = runner
        self.networks = networks
        self.stateDirectory = stateDirectory
        self.health = health
        self.callTimeout = callTimeout
        self.logger = logger
    }

    /// Asks every network's chain for STATUS and stores the outcome in
    /// `health`: a failure's reason names the network, the plugin and its
    /// CNI error. Chains before 1.1.0 have no STATUS and count as ready.
    public func checkStatus() async {
        let networks = networks()
        health.retain(networks: Set(networks.map(\.name)))
        for network in networks {
            let problem: String?
            do {
                try await runner.status(network: network.name, config: network.config,
                                        deadline: .now + callTimeout)
                problem = nil
            } catch let error as ChainStepError {
                let cniError = error.cniError
                problem = "\(cniError.msg) (code \(cniError.code))"
            } catch {
                problem = "network \"\(network.name)\": STATUS failed: \(error)"
            }
            // Logged on change only, so that a lasting failure does not
            // repeat every pass.
            guard health.update(network: network.name, problem: problem) else { continue }
            if let problem {
                logger.warning("network chain not ready", [("network", network.name), ("error", problem)])
            } else {
                logger.info("network chain ready", [("network", network.name)])
            }
        }
    }

    /// Runs GC for every network with the (sandbox id, interface) pairs of
    /// the sandbox records. Cached attachments of sandboxes with an
    /// unreadable record, and entries written while the records were being
    /// read, are passed as valid so that GC leaves them alone. Failures are
    /// logged; the next pass tries again.
    public func collectGarbage() async {
        let listedAt = Date()
        let live: LiveAttachments
        do {
            live = try LiveAttachments.read(stateDirectory: stateDirectory)
        } catch {
            logger.warning("GC skipped: the sandbox records cannot be listed", [("error", "\(error)")])
            return
        }
        for network in networks() {
            var valid = live.valid
            if let cache = runner.cache, let name = try? PluginChain(config: network.config, network: network.name).name {
                for entry in cache.entries(network: name).entries {
                    let path = cache.path(network: name, containerID: entry.containerID, ifName: entry.ifName)
                    let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
                    let recent = modified.map { $0.timeIntervalSince(listedAt) > -Self.cacheGrace } ?? true
                    if recent || live.unreadableSandboxes.contains(entry.containerID) {
                        valid.append(ValidAttachment(containerID: entry.containerID, ifName: entry.ifName))
                    }
                }
            }
            var seen: Set<ValidAttachment> = []
            valid = valid.filter { seen.insert($0).inserted }
            do {
                try await runner.garbageCollect(network: network.name, config: network.config, valid: valid,
                                                deadline: .now + callTimeout)
            } catch {
                logger.warning("GC failed", [("network", network.name), ("error", "\(error)")])
            }
        }
    }

    /// Checks STATUS at once and then every `statusInterval`, and runs GC
    /// every `gcInterval`, until the task is cancelled.
    public func run(statusInterval: Duration = .seconds(30), gcInterval: Duration = .seconds(60)) async {
        async let status: Void = repeating(every: statusInterval) { await checkStatus() }
        async let gc: Void = repeating(every: gcInterval) { await collectGarbage() }
        _ = await (status, gc)
    }

    private func repeating(every interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            await body()
            try? await Task.sleep(for: interval)
        }
    }
}
