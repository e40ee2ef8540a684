import BackendSDK
import CNI
import Foundation
import IPAM

/// Runs the IPAM of a backend request: `host-local` and `static` natively
/// through `IPAMDispatcher`, any other `ipam.type` through `externalPlugin`,
/// which in a loaded backend executes the IPAM binary via the host service.
public struct PodIPAM: Sendable {
    /// Executes the IPAM plugin binary `type` with CNI_COMMAND `command` for
    /// `request`, giving up at `deadline`.
    public typealias ExternalPlugin = @Sendable (_ type: String, _ command: String, _ stdinConfig: Data,
                                                 _ request: AttachRequest, _ deadline: Deadline) throws -> Data

    private let externalPlugin: ExternalPlugin

    public init(externalPlugin: @escaping ExternalPlugin = PodIPAM.rejectExternalPlugin) {
        self.externalPlugin = externalPlugin
    }

    /// An `ExternalPlugin` for callers without a CNI executor: every call fails naming the type.
    public static let rejectExternalPlugin: ExternalPlugin = { type, _, _, _, _ in
        throw CNIError(code: CNIError.invalidNetworkConfig,
                       msg: "IPAM type \"\(type)\" needs a CNI plugin executor, and none is configured")
    }

    /// Allocates addresses for the request's sandbox and interface (IPAM ADD).
    public func add(_ request: AttachRequest, deadline: Deadline = .none) throws -> CNIResult {
        try dispatcher(for: request, deadline: deadline).add(networkConfig: config(request), containerID: request.sandboxID,
                                         ifName: request.ifName, cniArgs: PluginRequestSupport.cniArgs(request.args))
    }

    /// Releases the request's addresses (IPAM DEL); succeeds when none are held.
    public func del(_ request: AttachRequest, deadline: Deadline = .none) throws {
        try dispatcher(for: request, deadline: deadline).del(networkConfig: config(request), containerID: request.sandboxID,
                                         ifName: request.ifName, cniArgs: PluginRequestSupport.cniArgs(request.args))
    }

    /// Verifies that the request's addresses are still held (IPAM CHECK).
    public func check(_ request: AttachRequest, deadline: Deadline = .none) throws {
        try dispatcher(for: request, deadline: deadline).check(networkConfig: config(request, withPrevResult: true),
                                           containerID: request.sandboxID, ifName: request.ifName,
                                           cniArgs: PluginRequestSupport.cniArgs(request.args))
    }

    private func config(_ request: AttachRequest, withPrevResult: Bool = false) -> JSONValue {
        PluginRequestSupport.ipamConfig(config: request.config, runtimeConfig: request.runtimeConfig,
                                        prevResult: withPrevResult ? request.prevResult : nil)
    }

    private func dispatcher(for request: AttachRequest, deadline: Deadline) -> IPAMDispatcher {
        let externalPlugin = self.externalPlugin
        return IPAMDispatcher { type, command, stdinConfig in
            try externalPlugin(type, command, stdinConfig, request, deadline)
        }
    }
}
