import BackendSDK
import CNI
import MacvlanNetwork
import Foundation
import NetworkSetup

/// The macvlan backend as the host loads it: `MacvlanPlugin` behind the
/// backend ABI, with IPAM types other than host-local and static executed
/// through the host's CNI executor. Each attachment is recorded in the
/// state directory so that gc can detach the ones the host no longer lists.
public final class MacvlanBackend: Backend {
    public static let name = "macvlan"
    public static let version = "1.0.0"
    public static let types = ["macvlan"]

    let plugin: MacvlanPlugin
    let host: HostServices
    /// Nil when the host gave no state directory; gc then has nothing to work from.
    let records: AttachmentRecords?

    public init(configuration: JSONValue, host: HostServices) throws {
        let ipam = PodIPAM { type, command, stdinConfig, request, deadline in
            try host.execIPAMPlugin(type: type, command: command, stdinConfig: stdinConfig,
                                    for: request, deadline: deadline)
        }
        plugin = MacvlanPlugin(ipam: ipam)
        self.host = host
        records = host.stateDirectory.isEmpty ? nil : AttachmentRecords(stateDirectory: host.stateDirectory)
    }

    /// Records the attachment, then attaches (see
    /// `AttachmentRecords.recordingAttach`). Detaching a
    /// macvlan needs nothing from the result, so the record has none.
    public func attach(_ request: AttachRequest, deadline: Deadline) throws -> CNIResult {
        guard let records else { return try plugin.add(request, deadline: deadline) }
        return try records.recordingAttach(request, storeResult: false) {
            try plugin.add(request, deadline: deadline)
        } undo: { result in
            var recorded = request
            recorded.prevResult = try? result.jsonValue()
            try? plugin.del(recorded, deadline: .none)
        }
    }

    /// Detaches and then deletes the attachment's record.
    public func detach(_ request: AttachRequest, deadline: Deadline) throws {
        try plugin.del(request, deadline: deadline)
        try records?.remove(sandboxID: request.sandboxID, ifName: request.ifName)
    }

    public func check(_ request: AttachRequest, deadline: Deadline) throws {
        try plugin.check(request, deadline: deadline)
    }

    /// Detaches every recorded attachment that `request` does not list.
    public func garbageCollect(_ request: GCRequest, deadline: Deadline) throws {
        guard let records else { return }
        let host = self.host
        try records.collectGarbage(keeping: request, startedAt: Date(), deadline: deadline,
                                   log: { host.log(.info, $0) },
                                   detach: { try plugin.del($0, deadline: deadline) })
    }
}

@_cdecl("hydra_backend_entry")
public func hydraBackendEntry() -> UnsafeRawPointer {
    BackendExport.entry(for: MacvlanBackend.self)
}
