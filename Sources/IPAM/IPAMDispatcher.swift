import CNI
import Foundation

/// Runs the IPAM of a network configuration for a backend: `host-local` and
/// `static` natively, any other `ipam.type` through a closure the backend
/// supplies, which executes the CNI IPAM plugin binary of that name.
public struct IPAMDispatcher: Sendable {
    /// Executes the IPAM plugin binary `type` with CNI_COMMAND `command` ("ADD",
    /// "DEL" or "CHECK") and `stdinConfig` on standard input, and returns its
    /// standard output. The closure sets CNI_CONTAINERID, CNI_IFNAME,
    /// CNI_NETNS, CNI_ARGS and CNI_PATH itself, and throws the plugin's error.
    public typealias PluginExecutor =
        @Sendable (_ type: String, _ command: String, _ stdinConfig: Data) throws -> Data

    /// The `ipam.type` values served natively.
    public static let nativeTypes: Set<String> = ["host-local", "static"]

    private let executePlugin: PluginExecutor

    public init(executePlugin: @escaping PluginExecutor) {
        self.executePlugin = executePlugin
    }

    /// Returns the `ipam.type` of a network configuration. Throws a `CNIError`
    /// (code 7) when `ipam` or its `type` is missing.
    public static func ipamType(of networkConfig: JSONValue) throws -> String {
        guard let ipam = networkConfig["ipam"], ipam.objectValue != nil else {
            throw CNIErrorFactory.invalidConfig("IPAM config missing 'ipam' key")
        }
        guard let type = ipam["type"]?.stringValue, !type.isEmpty else {
            throw CNIErrorFactory.invalidConfig("missing ipam.type in network configuration")
        }
        return type
    }

    /// Runs IPAM ADD and returns its result. `networkConfig` is the whole
    /// configuration of the calling plugin, as CNI passes it to IPAM plugins.
    public func add(networkConfig: JSONValue, containerID: String, ifName: String,
                    cniArgs: String = "") throws -> CNIResult {
        switch try Self.ipamType(of: networkConfig) {
        case "host-local":
            return try HostLocalIPAM(networkConfig: networkConfig, cniArgs: cniArgs)
                .allocate(containerID: containerID, ifName: ifName)
        case "static":
            return try StaticIPAM(networkConfig: networkConfig, cniArgs: cniArgs).result()
        case let type:
            let output = try executePlugin(type, "ADD", networkConfig.encoded())
            return try CNIResult(parsing: output)
        }
    }

    /// Runs IPAM DEL. Native host-local succeeds when nothing is reserved.
    /// Native static has nothing to release and, like the reference plugin,
    /// does not even read its configuration.
    public func del(networkConfig: JSONValue, containerID: String, ifName: String,
                    cniArgs: String = "") throws {
        switch try Self.ipamType(of: networkConfig) {
        case "host-local":
            try HostLocalIPAM(networkConfig: networkConfig, cniArgs: cniArgs)
                .release(containerID: containerID, ifName: ifName)
        case "static":
            return
        case let type:
            _ = try executePlugin(type, "DEL", networkConfig.encoded())
        }
    }

    /// Runs IPAM CHECK. Native static compares against `prevResult` in the
    /// configuration and requires it, like the reference plugin.
    public func check(networkConfig: JSONValue, containerID: String, ifName: String,
                      cniArgs: String = "") throws {
        switch try Self.ipamType(of: networkConfig) {
        case "host-local":
            try HostLocalIPAM(networkConfig: networkConfig, cniArgs: cniArgs)
                .check(containerID: containerID, ifName: ifName)
        case "static":
            let ipam = try StaticIPAM(networkConfig: networkConfig, cniArgs: cniArgs)
            guard let previous = networkConfig["prevResult"], previous.objectValue != nil else {
                throw CNIErrorFactory.invalidConfig("Required prevResult missing")
            }
            try ipam.check(previousResult: try CNIResult(json: previous), ifName: ifName)
        case let type:
            _ = try executePlugin(type, "CHECK", networkConfig.encoded())
        }
    }
}
