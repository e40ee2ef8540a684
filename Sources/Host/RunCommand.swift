import Attachments
import BackendHost
import CNIExec
@preconcurrency import Dispatch
import Foundation
import HydraLog
import NRIPlugin
import Orchestrator

/// `hydra run`: the daemon. Reads the configuration, loads the backends,
/// and serves the runtime's NRI socket until SIGTERM or SIGINT.
enum RunCommand {
    static let usage = """
    usage: hydra run [--config FILE] [--socket PATH] [--state-dir DIR] [--backends-dir DIR] [--cni-path DIRS]

      --config FILE        configuration file (JSON; see docs/configuration.md). Without it every
                           setting has its default and no network is defined.
      --socket PATH        NRI socket, overrides nri.socket
      --state-dir DIR      state directory, overrides stateDir
      --backends-dir DIR   directory of libhydra-backend-<name>.so files, overrides backends.dir
      --cni-path DIRS      colon-separated directories searched for CNI plugin binaries
                           (default /opt/cni/bin)
    """

    static func run(arguments: [String]) async -> Int32 {
        var configPath: String?
        var overrides = CommandLineOverrides()
        var cniPath = CNIExecutor.defaultPluginDirectories
        var remaining = arguments
        while !remaining.isEmpty {
            let flag = remaining.removeFirst()
            if flag == "-h" || flag == "--help" {
                print(usage)
                return 0
            }
            guard !remaining.isEmpty else {
                printError("\(flag) needs a value\n\(usage)")
                return 2
            }
            let value = remaining.removeFirst()
            switch flag {
            case "--config": configPath = value
            case "--socket": overrides.socket = value
            case "--state-dir": overrides.stateDir = value
            case "--backends-dir": overrides.backendsDir = value
            case "--cni-path": cniPath = value.split(separator: ":").map(String.init)
            default:
                printError("unknown option \"\(flag)\"\n\(usage)")
                return 2
            }
        }

        let configuration: HydraConfiguration
        do {
            let base = try configPath.map { try HydraConfiguration(contentsOfFile: $0) } ?? HydraConfiguration()
            configuration = try overrides.applied(to: base)
        } catch {
            printError("hydra: refusing to start: \(error)")
            return 1
        }
        LogSink.shared.configure(level: LogLevel(name: configuration.log.level) ?? .info,
                                 format: LogFormat(rawValue: configuration.log.format) ?? .logfmt)
        let logger = Logger(component: "hydra")
        logger.info("starting", [("config", configPath ?? "(defaults)"), ("stateDir", configuration.stateDir),
                                 ("socket", configuration.nri.socket)])

        // Backends.
        let executor = CNIExecutor(pluginDirectories: cniPath, logger: logger.component("cniexec"))
        let loader = BackendLoader(directory: configuration.backends.dir,
                                   stateRoot: configuration.stateDir + "/backends", executor: executor,
                                   logger: logger.component("backend-loader"))
        let specs = configuration.backends.load.map {
            BackendSpec(name: $0.name, path: $0.path, required: $0.required, configuration: $0.config)
        }
        let backends: BackendSet
        do {
            backends = try loader.load(specs)
        } catch {
            logger.error("refusing to start: a required backend failed to load", [("error", error.description)])
            return 1
        }
        for backend in backends.backends {
            logger.info("backend ready", [("backend", backend.name), ("types", backend.types.joined(separator: ","))])
        }

        // Kubernetes.
        var kubernetes: KubernetesAccess?
        if configuration.kubernetes.enabled {
            do {
                kubernetes = try KubernetesAccess.make(configuration.kubernetes, logger: logger)
                await kubernetes?.cache.start()
            } catch {
                logger.error("refusing to start: Kubernetes access is enabled but not configured",
                             [("error", "\(error)")])
                return 1
            }
        }

        let runner = ChainRunner(backends: backends, executor: executor,
                                 cacheDirectory: configuration.stateDir + "/cni-cache",
                                 logger: logger.component("chain"))
        let metrics = HydraMetrics()
        let orchestrator = Orchestrator(
            configuration: configuration, overrides: overrides,
            runner: MeasuredAttachmentRunner(inner: runner, metrics: metrics),
            definitions: kubernetes.map { CachedDefinitionSource(cache: $0.cache) },
            publisher: kubernetes.map { QueuedStatusPublisher(queue: $0.queue) },
            events: kubernetes.map { ClientEventRecorder(client: $0.client, node: ProcessInfo.processInfo.hostName,
                                                         logger: logger.component("events")) },
            inspector: NetlinkDefaultInterfaceInspector(),
            logger: logger.component("orchestrator"))

        var options = PluginOptions(socketPath: configuration.nri.socket, pluginName: configuration.nri.pluginName,
                                    pluginIndex: configuration.nri.pluginIndex)
        do {
            try options.applyRuntimeLaunchEnvironment(ProcessInfo.processInfo.environment)
        } catch {
            logger.error("refusing to start", [("error", "\(error)")])
            return 1
        }
        let host = PluginHost(options: options, handler: orchestrator, logger: logger.component("nri"))
        // STATUS and GC of the configured networks' chains, off the attach path.
        let chainHealth = ChainHealth()
        let maintenance = ChainMaintenance(runner: runner, networks: { orchestrator.configuration.networks },
                                           stateDirectory: configuration.stateDir, health: chainHealth,
                                           logger: logger.component("chain-maintenance"))
        let observability: Observability?
        do {
            observability = try Observability.start(
                metrics: metrics, configuration: configuration, backends: backends, host: host,
                orchestrator: orchestrator, queue: kubernetes?.queue, chains: chainHealth,
                logger: logger.component("metrics"))
        } catch {
            logger.error("refusing to start", [("error", error.description)])
            return 1
        }

        let signals = SignalWatcher { signal in
            logger.info("stopping on signal", [("signal", "\(signal)")])
            host.stop()
        }
        let periodic = Task { await orchestrator.runPeriodicReconcile() }
        let gcInterval = Duration.seconds(max(configuration.reconcile.intervalSeconds, 1))
        let chainChecks = Task { await maintenance.run(statusInterval: .seconds(30), gcInterval: gcInterval) }

        let exit = await host.run()
        periodic.cancel()
        chainChecks.cancel()
        observability?.stop()
        await kubernetes?.cache.stop()
        await kubernetes?.queue.shutdown()
        backends.shutdown()
        withExtendedLifetime(signals) {}
        switch exit {
        case .stopped, .preconnectedSocketClosed:
            logger.info("stopped")
            return 0
        case let .invalidOptions(message):
            logger.error("refusing to start", [("error", message)])
            return 1
        }
    }
}

/// Turns SIGTERM and SIGINT into a callback on a Dispatch queue.
final class SignalWatcher: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        // A parent that started Hydra through Foundation's Process passes
        // SIGTERM blocked; unblock both so that the Dispatch sources see them.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGTERM)
        sigaddset(&mask, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)

        var sources: [DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }
}

func printError(_ message: String) {
    LogSink.writeAll(message + "\n", to: STDERR_FILENO)
}
