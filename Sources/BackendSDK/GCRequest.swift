import CNI
import Foundation

/// One live attachment in a garbage-collection request.
public struct AttachmentID: Sendable, Hashable {
    public var sandboxID: String
    public var networkName: String
    public var ifName: String

    public init(sandboxID: String, networkName: String, ifName: String) {
        self.sandboxID = sandboxID
        self.networkName = networkName
        self.ifName = ifName
    }
}

/// The GC request JSON (section 8 of `hydra_backend.h`): every attachment of
/// the backend that is still live; everything else may be released.
public struct GCRequest: Sendable, Equatable {
    public var validAttachments: [AttachmentID]

    public init(validAttachments: [AttachmentID]) {
        self.validAttachments = validAttachments
    }

    /// Decodes `{"validAttachments": [{"sandboxID", "networkName", "ifName"}]}`.
    public init(json: JSONValue) throws(CNIError) {
        guard case .array(let entries)? = json["validAttachments"] else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid GC request: missing array \"validAttachments\"")
        }
        var attachments: [AttachmentID] = []
        for (index, entry) in entries.enumerated() {
            guard let sandboxID = entry["sandboxID"]?.stringValue,
                  let ifName = entry["ifName"]?.stringValue else {
                throw CNIError(code: CNIError.invalidNetworkConfig,
                               msg: "invalid GC request: validAttachments[\(index)] needs string fields \"sandboxID\" and \"ifName\"")
            }
            attachments.append(AttachmentID(sandboxID: sandboxID,
                                            networkName: entry["networkName"]?.stringValue ?? "",
                                            ifName: ifName))
        }
        validAttachments = attachments
    }

    /// Decodes GC request JSON text, rejecting invalid JSON with code 6.
    public init(jsonText data: Data) throws(CNIError) {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid GC request JSON: \(error)")
        }
        try self.init(json: value)
    }

    /// Returns whether `sandboxID` with `ifName` is in the list.
    public func contains(sandboxID: String, ifName: String) -> Bool {
        validAttachments.contains { $0.sandboxID == sandboxID && $0.ifName == ifName }
    }

    public func jsonValue() -> JSONValue {
        .object(["validAttachments": .array(validAttachments.map {
            .object(["sandboxID": .string($0.sandboxID),
                     "networkName": .string($0.networkName),
                     "ifName": .string($0.ifName)])
        })])
    }
}
