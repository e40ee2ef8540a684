import CNI
import Foundation
import Orchestrator

/// `hydra explain`: which networks a pod would get, without touching anything.
enum ExplainCommand {
    static let usage = """
    usage: hydra explain --config FILE --namespace NS [--annotation VALUE] [--labels k=v,...] [--host-network]

    Prints the networks a pod in NS with these labels and this selection annotation
    would get (network, backend types, interface), or the exact error its
    RunPodSandbox would fail with. NetworkAttachmentDefinitions are not fetched:
    only networks from the configuration file resolve.
    """

    static func run(arguments: [String]) async -> Int32 {
        var configPath: String?
        var namespace: String?
        var annotation: String?
        var labels: [String: String] = [:]
        var hostNetwork = false
        var remaining = arguments
        while !remaining.isEmpty {
            let flag = remaining.removeFirst()
            if flag == "-h" || flag == "--help" {
                print(usage)
                return 0
            }
            if flag == "--host-network" {
                hostNetwork = true
                continue
            }
            guard !remaining.isEmpty else {
                printError("\(flag) needs a value\n\(usage)")
                return 2
            }
            let value = remaining.removeFirst()
            switch flag {
            case "--config": configPath = value
            case "--namespace": namespace = value
            case "--annotation": annotation = value
            case "--labels":
                for pair in value.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, !parts[0].isEmpty else {
                        printError("invalid --labels entry \"\(pair)\": expected key=value")
                        return 2
                    }
                    labels[parts[0]] = parts[1]
                }
            default:
                printError("unknown option \"\(flag)\"\n\(usage)")
                return 2
            }
        }
        guard let configPath, let namespace else {
            printError("--config and --namespace are required\n\(usage)")
            return 2
        }

        let configuration: HydraConfiguration
        do {
            configuration = try HydraConfiguration(contentsOfFile: configPath)
        } catch {
            printError("\(error)")
            return 1
        }
        let planner = AttachmentPlanner(configuration: configuration, definitions: nil)
        do {
            let plans = try await planner.explain(namespace: namespace, labels: labels, annotation: annotation,
                                                  hostNetwork: hostNetwork)
            if plans.isEmpty {
                print("no networks: the pod would be left alone")
            }
            for plan in plans {
                let types = plan.config["plugins"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
                    ?? [plan.config["type"]?.stringValue ?? "?"]
                print("network=\(plan.network) interface=\(plan.interface) types=\(types.joined(separator: ","))")
            }
            return 0
        } catch {
            print("error: \(error)")
            return 1
        }
    }
}
