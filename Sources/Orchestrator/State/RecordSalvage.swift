import CNI
import Foundation

extension StateStore {
    /// Rebuilds what is still decodable from a record file that was moved
    /// aside: each completed attachment and the intent entry that decodes on
    /// its own and names `unreadable.sandboxID`. Returns nil when the file is
    /// not JSON, contains another sandbox's record, or has no usable attachment.
    ///
    /// A file whose top-level `sandboxID` differs from its name is never
    /// salvaged, because detaching from it would tear down another, live
    /// sandbox's networks.
    ///
    /// NOTE: a file that is not valid JSON (for example truncated by a disk
    /// failure; the store's own writes are atomic) yields nothing. Its
    /// addresses stay reserved until an operator or the backend's garbage
    /// collection releases them.
    public func salvage(_ unreadable: UnreadableRecord) -> SandboxRecord? {
        guard let data = FileManager.default.contents(atPath: unreadable.movedTo),
              let json = try? JSONValue(parsing: data) else { return nil }
        if let named = json["sandboxID"]?.stringValue, named != unreadable.sandboxID { return nil }

        func decode(_ value: JSONValue) -> AttachmentRecord? {
            guard let attachment = try? AttachmentRecord(json: value),
                  attachment.request.sandboxID == unreadable.sandboxID else { return nil }
            return attachment
        }
        let attachments = (json["attachments"]?.arrayValue ?? []).compactMap(decode)
        let intent = json["intent"].flatMap(decode)
        guard let first = attachments.first ?? intent else { return nil }

        let pod = json["pod"].flatMap { value -> PodReference? in
            guard let namespace = value["namespace"]?.stringValue, let name = value["name"]?.stringValue,
                  let uid = value["uid"]?.stringValue else { return nil }
            return PodReference(namespace: namespace, name: name, uid: uid)
        }
        return SandboxRecord(sandboxID: unreadable.sandboxID, pod: pod ?? first.request.pod,
                             netnsPath: json["netnsPath"]?.stringValue ?? first.request.netnsPath,
                             attachments: attachments, intent: intent,
                             stopped: json["stopped"]?.boolValue ?? false)
    }

    /// True when a record of `sandboxID` was moved aside as unreadable.
    func hasUnreadableRecord(sandboxID: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: unreadableDirectory)) ?? []
        return names.contains { $0.hasPrefix("\(sandboxID).json.") }
    }
}
