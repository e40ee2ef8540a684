import BackendSDK
import CNI
import BridgeNetwork
import NetworkSetup

/// The bridge backend as the host loads it: `BridgePlugin` behind the
/// backend ABI, with IPAM types other than host-local and static executed
/// through the host's CNI executor.
public final class BridgeBackend: Backend {
    public static let name = "bridge"
    public static let version = "1.0.0"
    public static let types = ["bridge"]

    let plugin: BridgePlugin

    public init(configuration: JSONValue, host: HostServices) throws {
        let ipam = PodIPAM { type, command, stdinConfig, request, deadline in
            try host.execIPAMPlugin(type: type, command: command, stdinConfig: stdinConfig,
                                    for: request, deadline: deadline)
        }
        plugin = BridgePlugin(ipam: ipam)
    }

    public func attach(_ request: AttachRequest, deadline: Deadline) throws -> CNIResult {
        try plugin.add(request, deadline: deadline)
    }

    public func detach(_ request: AttachRequest, deadline: Deadline) throws {
        try plugin.del(request, deadline: deadline)
    }

    public func check(_ request: AttachRequest, deadline: Deadline) throws {
        try plugin.check(request, deadline: deadline)
    }
}

@_cdecl("hydra_backend_entry")
public func hydraBackendEntry() -> UnsafeRawPointer {
    BackendExport.entry(for: BridgeBackend.self)
}
