import CNI
import Foundation

/// The attachments Hydra's sandbox records still hold, read for GC.
///
/// The orchestrator's `StateStore.loadAll` moves unreadable record files
/// aside, which GC must not do behind the orchestrator's back, so this
/// reads `<stateDir>/sandboxes/*.json` itself and only looks at the fields
/// GC needs: `sandboxID`, and `interface` in `attachments` and `intent`.
/// NOTE: this duplicates a corner of the record layout (RecordCoding.swift);
/// a non-moving public listing in StateStore would replace it.
public struct LiveAttachments: Sendable, Equatable {
    /// (sandbox id, interface) of every completed attachment and attach in progress.
    public var valid: [ValidAttachment]
    /// Sandboxes whose record file exists but could not be read: GC keeps
    /// every cached attachment of these, since their interfaces are unknown.
    public var unreadableSandboxes: Set<String>

    public init(valid: [ValidAttachment], unreadableSandboxes: Set<String>) {
        self.valid = valid
        self.unreadableSandboxes = unreadableSandboxes
    }

    /// Reads the record files under `stateDirectory`. A missing sandboxes
    /// directory means no records. Throws only when the directory exists
    /// but cannot be listed, in which case GC must not run.
    public static func read(stateDirectory: String) throws -> LiveAttachments {
        let directory = stateDirectory + "/sandboxes"
        guard FileManager.default.fileExists(atPath: directory) else {
            return LiveAttachments(valid: [], unreadableSandboxes: [])
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw CNIError(code: CNIError.ioFailure, msg: "failed to list \"\(directory)\": \(error)")
        }
        var valid: [ValidAttachment] = []
        var unreadable: Set<String> = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let sandboxID = String(name.dropLast(".json".count))
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)),
                  let record = try? JSONValue(parsing: data),
                  let attachments = record["attachments"]?.arrayValue else {
                unreadable.insert(sandboxID)
                continue
            }
            var interfaces = attachments.compactMap { $0["interface"]?.stringValue }
            if let intent = record["intent"]?["interface"]?.stringValue { interfaces.append(intent) }
            if interfaces.count < attachments.count { unreadable.insert(sandboxID) }
            valid += interfaces.map { ValidAttachment(containerID: sandboxID, ifName: $0) }
        }
        return LiveAttachments(valid: valid, unreadableSandboxes: unreadable)
    }
}
