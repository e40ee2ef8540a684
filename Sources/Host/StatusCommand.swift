import CNI
import Foundation
import Metrics
import Orchestrator

/// `hydra status`: the running daemon's connection state and backends,
/// read from its `/status` endpoint, and the attachments per sandbox, read
/// from the state directory.
enum StatusCommand {
    static let usage = """
    usage: hydra status [--config FILE] [--address HOST:PORT] [--state-dir DIR]

      --config FILE        the daemon's configuration file; supplies metrics.listen and stateDir
      --address HOST:PORT  the daemon's metrics endpoint, overrides metrics.listen
      --state-dir DIR      the daemon's state directory, overrides stateDir

    Exits with 1 when the daemon's endpoint cannot be reached or the state
    directory cannot be read; prints what it could read either way.
    """

    static func run(arguments: [String]) -> Int32 {
        var configPath: String?
        var address: String?
        var stateDir: String?
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
            case "--address": address = value
            case "--state-dir": stateDir = value
            default:
                printError("unknown option \"\(flag)\"\n\(usage)")
                return 2
            }
        }

        let configuration: HydraConfiguration
        do {
            configuration = try configPath.map { try HydraConfiguration(contentsOfFile: $0) } ?? HydraConfiguration()
        } catch {
            printError("\(error)")
            return 1
        }
        let daemonOK = printDaemon(address: address ?? configuration.metrics.listen)
        let stateOK = printSandboxes(stateDir: stateDir ?? configuration.stateDir)
        return daemonOK && stateOK ? 0 : 1
    }

    /// Prints the daemon's `/status`; returns false when it cannot be read.
    static func printDaemon(address text: String) -> Bool {
        guard !text.isEmpty else {
            print("daemon: unknown (metrics.listen is empty, so the daemon serves no status; pass --address)")
            return false
        }
        let status: DaemonStatus
        do {
            let address = try ListenAddress(text)
            let response = try EndpointClient.getBlocking(address, path: "/status")
            guard response.status == 200 else {
                print("daemon: \(text) answered HTTP \(response.status): \(response.body)")
                return false
            }
            status = try JSONDecoder().decode(DaemonStatus.self, from: Data(response.body.utf8))
        } catch {
            print("daemon: not reachable: \(error)")
            return false
        }

        print("daemon: hydra \(status.version) at \(text)")
        print("connection: \(status.connection) (reconnects: \(status.reconnects))")
        print("ready: " + (status.ready ? "yes" : "no, \(status.notReadyReason ?? "reason unknown")"))
        print("backends:" + (status.backends.isEmpty ? " none" : ""))
        for backend in status.backends {
            print("  \(backend.name) \(backend.version) types=\(backend.types.joined(separator: ",")) path=\(backend.path)")
        }
        for failure in status.failedBackends {
            print("  failed: \(failure)")
        }
        return true
    }

    /// Prints each sandbox record with its attachments; returns false when
    /// the state directory cannot be read. It only reads: unlike
    /// `StateStore.loadAll`, it never moves an unreadable file aside or
    /// deletes a temporary file the daemon may be writing.
    static func printSandboxes(stateDir: String) -> Bool {
        let directory = stateDir + "/sandboxes"
        let names: [String]
        if !FileManager.default.fileExists(atPath: directory) {
            names = []
        } else {
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
                    .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
            } catch {
                print("sandboxes: failed to list \(directory): \(error.localizedDescription)")
                return false
            }
        }
        print("sandboxes in \(stateDir): \(names.count)")
        for name in names {
            let file = directory + "/" + name
            let record: JSONValue
            do {
                record = try JSONValue(parsing: try Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                print("  \(name): unreadable: \(error)")
                continue
            }
            print("  " + describeSandbox(record, fileName: name))
            for attachment in record["attachments"]?.arrayValue ?? [] {
                print("    " + describeAttachment(attachment))
            }
            if let intent = record["intent"] {
                print("    attach in progress or interrupted: " + describeAttachment(intent))
            }
        }
        return true
    }

    /// The sandbox line: id, pod, namespace path and whether it stopped.
    static func describeSandbox(_ record: JSONValue, fileName: String) -> String {
        let sandboxID = record["sandboxID"]?.stringValue ?? String(fileName.dropLast(".json".count))
        let namespace = record["pod"]?["namespace"]?.stringValue ?? "?"
        let pod = record["pod"]?["name"]?.stringValue ?? "?"
        let netns = record["netnsPath"]?.stringValue ?? "?"
        let stopped = record["stopped"]?.boolValue == true ? " (stopped)" : ""
        return "\(sandboxID) pod=\(namespace)/\(pod) netns=\(netns)\(stopped)"
    }

    /// One line per attachment: network, interface, backend, addresses and MAC.
    static func describeAttachment(_ attachment: JSONValue) -> String {
        let network = attachment["network"]?.stringValue ?? "?"
        let qualified = attachment["definitionNamespace"]?.stringValue.map { "\($0)/\(network)" } ?? network
        let interface = attachment["interface"]?.stringValue ?? "?"
        var line = "network=\(qualified) interface=\(interface) backend=\(attachment["backend"]?.stringValue ?? "?")"
        guard let json = attachment["result"], let result = try? CNIResult(json: json) else {
            return line + " result=none"
        }
        let ips = result.ips.map(\.address).joined(separator: ",")
        line += " ips=\(ips.isEmpty ? "none" : ips)"
        if let mac = result.interfaces.first(where: { $0.name == interface })?.mac {
            line += " mac=\(mac)"
        }
        return line
    }
}
