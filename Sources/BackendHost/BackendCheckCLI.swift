import CNI
import CNIExec
import Foundation

/// Argument parsing and the exit status of `hydra backend check`, kept in
/// the library so tests can run the command without the executable.
public enum BackendCheckCLI {
    public static let usage = """
        usage: hydra backend check PATH.so [--config JSON|@FILE] [--network-config JSON|@FILE]
                                   [--timeout SECONDS] [--cni-bin-dir DIR[:DIR...]] [--host-namespace]

          PATH.so           the backend library to check, loaded as the daemon loads it
          --config          the backend configuration passed to init (default {})
          --network-config  the CNI network configuration sent in each request
                            (default {"cniVersion":"1.0.0","name":"hydra-check","type":<first type>})
          --timeout         deadline of each backend call in seconds (default 10)
          --cni-bin-dir     directories of CNI plugin binaries for the exec_cni_plugin
                            host service, separated by ":" (default /opt/cni/bin)
          --host-namespace  run in the machine's own network namespace instead of a
                            private one, for backends that need the node's real devices

        Runs as root: each check uses throwaway network namespaces. By default the
        whole run happens in a private network namespace with an eth0 uplink and a
        default route, so that host-side devices and rules the backend creates are
        deleted with it. Prints one line per check and exits with status 1 when any
        check failed.
        """

    /// A command-line mistake, printed with the usage text.
    public struct UsageError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses the arguments after `hydra backend check`. A leading "backend"
    /// and "check" are skipped, so the full command line works too.
    public static func parse(_ arguments: [String]) throws(UsageError) -> BackendCheckOptions {
        var remaining = arguments[...]
        if remaining.first == "backend" { remaining = remaining.dropFirst() }
        if remaining.first == "check" { remaining = remaining.dropFirst() }

        var path: String?
        var configuration: JSONValue = .object([:])
        var networkConfiguration: JSONValue?
        var timeout = 10.0
        var pluginDirectories = CNIExecutor.defaultPluginDirectories
        var hostNamespace = false
        while let argument = remaining.popFirst() {
            switch argument {
            case "--config", "--network-config", "--timeout", "--cni-bin-dir":
                guard let value = remaining.popFirst() else {
                    throw UsageError(description: "missing value after \(argument)")
                }
                if argument == "--cni-bin-dir" {
                    pluginDirectories = value.split(separator: ":").map(String.init)
                    guard !pluginDirectories.isEmpty else {
                        throw UsageError(description: "invalid --cni-bin-dir \"\(value)\": expected directories separated by \":\"")
                    }
                } else if argument == "--timeout" {
                    guard let seconds = Double(value), seconds > 0 else {
                        throw UsageError(description: "invalid --timeout \"\(value)\": expected a positive number of seconds")
                    }
                    timeout = seconds
                } else {
                    let json = try readJSON(value, option: argument)
                    if argument == "--config" { configuration = json } else { networkConfiguration = json }
                }
            case "-h", "--help":
                throw UsageError(description: "")
            case "--host-namespace":
                hostNamespace = true
            default:
                guard !argument.hasPrefix("-") else { throw UsageError(description: "unknown option \(argument)") }
                guard path == nil else { throw UsageError(description: "unexpected argument \(argument): give one library path") }
                path = argument
            }
        }
        guard let path else { throw UsageError(description: "missing the backend library path") }
        return BackendCheckOptions(libraryPath: path, backendConfiguration: configuration,
                                   networkConfiguration: networkConfiguration, callTimeoutSeconds: timeout,
                                   cniPluginDirectories: pluginDirectories, hostNamespace: hostNamespace)
    }

    /// Reads an option value: JSON text, or `@FILE` for a file holding it.
    /// The value must be a JSON object.
    static func readJSON(_ value: String, option: String) throws(UsageError) -> JSONValue {
        var text = value
        if value.hasPrefix("@") {
            let path = String(value.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw UsageError(description: "\(option): failed to read file \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: text)
        } catch {
            throw UsageError(description: "\(option): invalid JSON: \(error)")
        }
        guard json.objectValue != nil else {
            throw UsageError(description: "\(option): expected a JSON object, got \(json.encodedString())")
        }
        return json
    }

    /// Runs the command: parses `arguments`, runs every check, writes one line
    /// per check to `output`, and returns the exit status (0 all passed or
    /// were skipped, 1 a check failed, 2 invalid arguments).
    public static func run(arguments: [String], output: @escaping @Sendable (String) -> Void) async -> Int32 {
        let options: BackendCheckOptions
        do {
            options = try parse(arguments)
        } catch {
            if error.description.isEmpty {
                output(usage)
                return 0
            }
            output("hydra backend check: \(error.description)")
            output(usage)
            return 2
        }
        let results = await BackendChecker(options: options).run { output($0.line) }
        let failed = results.filter { $0.status == .fail }.count
        output(failed == 0 ? "all \(results.count) checks passed or were skipped"
                           : "\(failed) of \(results.count) checks failed")
        return failed == 0 ? 0 : 1
    }
}
