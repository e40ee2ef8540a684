import BackendAPI
import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog

/// The host side of `struct hydra_host_services_v1` for one backend: the
/// table passed to init and the context its functions reach through
/// `context`. Both live until the backend's shutdown returned.
final class HostServicesProvider: @unchecked Sendable {
    // Sendable: every field is immutable after init, and the logger and the
    // executor are Sendable themselves.
    let backendName: String
    let logger: Logger
    let executor: CNIExecutor
    let stateDirectory: String
    /// The C table handed to the backend; freed in deinit.
    let table: UnsafeMutablePointer<hydra_host_services_v1>
    private let stateDirectoryCString: UnsafeMutablePointer<CChar>
    /// Pod name ("namespace/name") and number of running calls per sandbox
    /// id, so that the backend's log lines, which the C API sends with only
    /// the sandbox id, also name the pod. Guarded by `podLock`.
    private var podsBySandbox: [String: (pod: String, calls: Int)] = [:]
    private let podLock = NSLock()

    init(backendName: String, stateDirectory: String, executor: CNIExecutor, logger: Logger) {
        self.backendName = backendName
        self.stateDirectory = stateDirectory
        self.executor = executor
        self.logger = logger
        stateDirectoryCString = strdup(stateDirectory)
        table = .allocate(capacity: 1)
        table.initialize(to: hydra_host_services_v1(
            struct_size: UInt32(MemoryLayout<hydra_host_services_v1>.size),
            context: nil,
            log: HostServicesProvider.logThunk,
            state_directory: UnsafePointer(stateDirectoryCString),
            exec_cni_plugin: HostServicesProvider.execThunk,
            free_string: { _, string in free(string) }))
        // Unretained: the LoadedBackend owning this provider outlives every call.
        table.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        table.deallocate()
        free(stateDirectoryCString)
    }

    /// Records the pod of `request` for the duration of one backend call;
    /// each call is paired with `endPodCall(sandboxID:)`.
    func beginPodCall(_ request: AttachRequest) {
        guard !request.podName.isEmpty else { return }
        podLock.lock()
        let calls = podsBySandbox[request.sandboxID]?.calls ?? 0
        podsBySandbox[request.sandboxID] = ("\(request.podNamespace)/\(request.podName)", calls + 1)
        podLock.unlock()
    }

    /// Forgets the pod of `sandboxID` once its last running call ended.
    func endPodCall(sandboxID: String) {
        podLock.lock()
        if let entry = podsBySandbox[sandboxID] {
            podsBySandbox[sandboxID] = entry.calls > 1 ? (entry.pod, entry.calls - 1) : nil
        }
        podLock.unlock()
    }

    /// Log fields `pod` (when a running call registered it) and `sandbox`.
    func podLogFields(sandboxID: String) -> [(String, String)] {
        podLock.lock()
        let pod = podsBySandbox[sandboxID]?.pod
        podLock.unlock()
        return (pod.map { [("pod", $0)] } ?? []) + [("sandbox", sandboxID)]
    }

    private static func provider(_ context: UnsafeMutableRawPointer?) -> HostServicesProvider? {
        context.map { Unmanaged<HostServicesProvider>.fromOpaque($0).takeUnretainedValue() }
    }

    private static let logThunk: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
        context, level, sandboxID, message in
        guard let provider = provider(context) else { return }
        let text = message.map { String(cString: $0) } ?? ""
        var fields: [(String, String)] = []
        if let sandboxID { fields = provider.podLogFields(sandboxID: String(cString: sandboxID)) }
        let logLevel: LogLevel
        switch UInt32(bitPattern: level) {
        case HYDRA_LOG_DEBUG.rawValue: logLevel = .debug
        case HYDRA_LOG_WARNING.rawValue: logLevel = .warning
        case HYDRA_LOG_ERROR.rawValue: logLevel = .error
        default: logLevel = .info
        }
        provider.logger.log(logLevel, text, fields)
    }

    private static let execThunk: @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int64,
        UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { context, requestText, deadline, resultJSON, errorMessage in
        guard let provider = provider(context) else { return UInt32(CNIError.internalError) }
        let (code, output, message) = provider.execCNIPlugin(requestText.map { String(cString: $0) } ?? "",
                                                             deadlineNanoseconds: deadline)
        if let output { resultJSON?.pointee = strdup(output) }
        if let message { errorMessage?.pointee = strdup(message) }
        return code
    }

    /// Serves `exec_cni_plugin`: decodes the request, runs the plugin with the
    /// host's executor, and maps executor failures to the HYDRA_HOST_ERR_* codes.
    func execCNIPlugin(_ requestText: String, deadlineNanoseconds: Int64) -> (UInt32, String?, String?) {
        let request: CNIPluginRequest
        do {
            request = try CNIPluginRequest(json: JSONValue(parsing: Data(requestText.utf8)))
        } catch {
            return (UInt32(CNIError.decodingFailure), nil, "invalid exec_cni_plugin request: \(error)")
        }
        let invocation = CNIInvocation(command: request.command, pluginType: request.type,
                                       stdinData: request.config.encoded(sortedKeys: false),
                                       containerID: request.containerID, netns: request.netns,
                                       ifName: request.ifName,
                                       args: request.args.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
        do {
            let output = try executor.execute(invocation, deadlineNanoseconds: deadlineNanoseconds)
            return (0, output.isEmpty ? nil : String(decoding: output, as: UTF8.self), nil)
        } catch {
            // A backend may leave out the K8S_POD_* args; the running call's pod fills the gap.
            let fields = invocation.podLogFields.contains { $0.0 == "pod" }
                ? invocation.podLogFields : podLogFields(sandboxID: request.containerID)
            logger.warning("CNI plugin run for backend failed",
                           [("plugin", request.type), ("command", request.command)] + fields
                            + [("error", error.description)])
            switch error {
            case .plugin(_, let pluginError):
                let text = pluginError.details.isEmpty ? pluginError.msg : "\(pluginError.msg): \(pluginError.details)"
                return (UInt32(pluginError.code), nil, text)
            case .pluginNotFound, .invalidPluginType:
                return (UInt32(HYDRA_HOST_ERR_PLUGIN_NOT_FOUND), nil, error.description)
            case .timedOut:
                return (UInt32(HYDRA_HOST_ERR_DEADLINE_EXCEEDED), nil, error.description)
            default:
                return (UInt32(HYDRA_HOST_ERR_PLUGIN_FAILED), nil, error.description)
            }
        }
    }
}
