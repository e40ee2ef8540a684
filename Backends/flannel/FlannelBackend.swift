import BackendSDK
import BridgeNetwork
import CNI
import Foundation
import NetworkSetup

/// The flannel backend as the host loads it: a `FlannelNode` holding the
/// node's subnet lease and the VXLAN overlay, and pods attached through
/// `BridgePlugin` with the configuration the flannel CNI plugin would
/// delegate. Serves the CNI type `flannel`.
///
/// NOTE: one backend instance serves one flannel network (one etcd
/// prefix); a second network needs a second instance of the backend.
public final class FlannelBackend: Backend {
    public static let name = "flannel"
    public static let version = "1.0.0"
    public static let types = ["flannel"]

    public let node: FlannelNode
    let bridge: BridgePlugin
    let delegateDirectory: String
    let ipamDataDir: String
    /// The delegated request and result of every attachment, for gc.
    let records: AttachmentRecords
    let log: FlannelNode.Logger

    public convenience init(configuration: JSONValue, host: HostServices) throws {
        let options: FlannelOptions
        do {
            options = try FlannelOptions(json: configuration)
        } catch let error as FlannelError {
            throw error.cniError
        }
        let ipam = PodIPAM { type, command, stdinConfig, request, deadline in
            try host.execIPAMPlugin(type: type, command: command, stdinConfig: stdinConfig,
                                    for: request, deadline: deadline)
        }
        try self.init(options: options, stateDirectory: host.stateDirectory, hostNamespace: .process, ipam: ipam) {
            level, message in host.log(level, message)
        }
    }

    /// Creates the backend and starts its node. `hostNamespace` is the
    /// namespace treated as the node: the process's own in production, a
    /// test namespace in tests.
    public init(options: FlannelOptions, stateDirectory: String, hostNamespace: HostNamespace,
                ipam: PodIPAM = PodIPAM(), log: @escaping FlannelNode.Logger) throws {
        node = try FlannelNode(options: options, host: hostNamespace, stateDirectory: stateDirectory, log: log)
        bridge = BridgePlugin(ipam: ipam, host: hostNamespace)
        delegateDirectory = stateDirectory + "/delegates"
        ipamDataDir = options.ipamDataDir.isEmpty ? stateDirectory + "/ipam" : options.ipamDataDir
        records = AttachmentRecords(stateDirectory: stateDirectory)
        self.log = log
        try FileManager.default.createDirectory(atPath: delegateDirectory, withIntermediateDirectories: true)
        node.start()
    }

    /// Attaches the pod through the bridge with the node's subnet. Uses only
    /// the held lease, so it works while etcd is unreachable; fails with
    /// code 11 (try again later) before any lease was taken.
    public func attach(_ request: AttachRequest, deadline: Deadline) throws -> CNIResult {
        let lease: FlannelNode.HeldLease
        do {
            lease = try node.requireLease()
        } catch let error as FlannelError {
            throw error.cniError
        }
        let delegate = try FlannelDelegate.build(config: request.config, lease: lease, options: node.options,
                                                 ipamDataDir: ipamDataDir)
        try saveDelegate(delegate, for: request)
        var delegated = request
        delegated.config = delegate
        let result: CNIResult
        do {
            result = try bridge.add(delegated, deadline: deadline)
        } catch {
            try? FileManager.default.removeItem(atPath: delegatePath(for: request))
            throw error
        }
        do {
            try records.save(delegated, result: result)
        } catch {
            delegated.prevResult = try? result.jsonValue()
            try? bridge.del(delegated, deadline: .none)
            try? FileManager.default.removeItem(atPath: delegatePath(for: request))
            throw error
        }
        return result
    }

    /// Detaches with the delegate configuration saved at attach (rebuilt from
    /// the held lease when none was saved), then deletes the saved file.
    public func detach(_ request: AttachRequest, deadline: Deadline) throws {
        guard let delegate = try savedOrRebuiltDelegate(for: request) else { return }
        var delegated = request
        delegated.config = delegate
        try bridge.del(delegated, deadline: deadline)
        try? FileManager.default.removeItem(atPath: delegatePath(for: request))
        try records.remove(sandboxID: request.sandboxID, ifName: request.ifName)
    }

    /// Detaches every recorded attachment that `request` does not list, with
    /// the delegate configuration recorded at attach.
    public func garbageCollect(_ request: GCRequest, deadline: Deadline) throws {
        let log = self.log
        try records.collectGarbage(keeping: request, startedAt: Date(), deadline: deadline,
                                   log: { log(.info, $0) },
                                   detach: { attachment in
                                       try bridge.del(attachment, deadline: deadline)
                                       try? FileManager.default.removeItem(atPath: delegatePath(for: attachment))
                                   })
    }

    public func check(_ request: AttachRequest, deadline: Deadline) throws {
        guard let delegate = try savedOrRebuiltDelegate(for: request) else {
            throw CNIError(code: CNIError.tryAgainLater, msg: "no flannel subnet lease held and no saved delegate config")
        }
        var delegated = request
        delegated.config = delegate
        try bridge.check(delegated, deadline: deadline)
    }

    public func shutdown() {
        node.shutdown()
    }

    // MARK: - Saved delegate configs

    /// Returns the path of the delegate config saved for one attachment; the
    /// flannel CNI plugin likewise keeps one file per container in its dataDir.
    func delegatePath(for request: AttachRequest) -> String {
        let name = "\(request.sandboxID)-\(request.ifName)".replacingOccurrences(of: "/", with: "_")
        return delegateDirectory + "/" + name + ".json"
    }

    private func saveDelegate(_ delegate: JSONValue, for request: AttachRequest) throws {
        try delegate.encoded().write(to: URL(fileURLWithPath: delegatePath(for: request)), options: .atomic)
    }

    private func savedOrRebuiltDelegate(for request: AttachRequest) throws -> JSONValue? {
        if let data = FileManager.default.contents(atPath: delegatePath(for: request)),
           let saved = try? JSONValue(parsing: data) {
            return saved
        }
        guard let lease = node.currentLease else { return nil }
        return try FlannelDelegate.build(config: request.config, lease: lease, options: node.options, ipamDataDir: ipamDataDir)
    }
}
