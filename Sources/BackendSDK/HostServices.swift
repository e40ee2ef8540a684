import BackendAPI
import CNI
import Foundation

/// Log levels of the `log` host service (`enum hydra_log_level`).
public enum BackendLogLevel: Int32, Sendable {
    case debug = 0, info = 1, warning = 2, error = 3
}

/// The host services table passed to init (`struct hydra_host_services_v1`),
/// wrapped for Swift. Valid until the backend's `shutdown()` returns; every
/// method is thread-safe.
public final class HostServices: @unchecked Sendable {
    // Safe to share: the host keeps the table unchanged until shutdown and
    // its functions are thread-safe by contract.
    private let table: UnsafePointer<hydra_host_services_v1>

    /// Wraps a host table. The SDK calls this; tests of a backend may build
    /// a table of their own.
    public init(table: UnsafePointer<hydra_host_services_v1>) {
        self.table = table
    }

    /// The backend's private state directory, created by the host.
    public var stateDirectory: String {
        guard let path = table.pointee.state_directory else { return "" }
        return String(cString: path)
    }

    /// Writes one log line through the host's logger (the `log` host service).
    public func log(_ level: BackendLogLevel, _ message: String, sandboxID: String? = nil) {
        guard let log = table.pointee.log else { return }
        let context = table.pointee.context
        if let sandboxID {
            log(context, level.rawValue, sandboxID, message)
        } else {
            log(context, level.rawValue, nil, message)
        }
    }

    /// Runs a CNI plugin binary through the host's CNI executor (the
    /// `exec_cni_plugin` host service). Returns the plugin's stdout, or nil
    /// when it printed nothing. Throws the plugin's error as a `CNIError`.
    public func execCNIPlugin(_ request: CNIPluginRequest, deadline: Deadline) throws(CNIError) -> Data? {
        guard let exec = table.pointee.exec_cni_plugin else {
            throw CNIError(code: CNIError.internalError, msg: "the host offers no exec_cni_plugin service")
        }
        var result: UnsafeMutablePointer<CChar>?
        var message: UnsafeMutablePointer<CChar>?
        let requestText = request.jsonValue().encodedString()
        let code = exec(table.pointee.context, requestText, deadline.monotonicNanoseconds, &result, &message)

        let output = result.map { Data(String(cString: $0).utf8) }
        let messageText = message.map { String(cString: $0) }
        if let free = table.pointee.free_string {
            free(table.pointee.context, result)
            free(table.pointee.context, message)
        }
        guard code == 0 else {
            throw CNIError(code: UInt(code),
                           msg: messageText ?? "CNI plugin \"\(request.type)\" \(request.command) failed")
        }
        return output
    }

    /// Runs an IPAM plugin for an attachment: the plugin named `type` gets
    /// `command` with `stdinConfig` on stdin and the request's container id,
    /// namespace, interface and CNI_ARGS. This matches the closure the IPAM
    /// dispatcher takes for IPAM types it does not implement.
    public func execIPAMPlugin(type: String, command: String, stdinConfig: Data,
                               for request: AttachRequest, deadline: Deadline) throws -> Data {
        let config: JSONValue
        do {
            config = try JSONValue(parsing: stdinConfig)
        } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid IPAM configuration for \"\(type)\": \(error)")
        }
        let pluginRequest = CNIPluginRequest(command: command, type: type, config: config,
                                             containerID: request.sandboxID, netns: request.netns,
                                             ifName: request.ifName, args: request.args)
        return try execCNIPlugin(pluginRequest, deadline: deadline) ?? Data()
    }
}
