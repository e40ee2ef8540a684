import BackendSDK
import CNI
import Foundation

extension AttachmentRecords {
    /// Detaches every recorded attachment that `request` does not list
    /// (the gc call of the backend ABI) and deletes its record. `detach`
    /// runs the backend's own CNI DEL with the stored request, which
    /// deletes the pod interface when its namespace still exists and
    /// releases the addresses. Records written at or after `startedAt` are
    /// kept: they belong to attaches that finished after the host built
    /// the list. Unreadable record files are deleted.
    ///
    /// Every unlisted attachment is tried; the first failure is thrown
    /// after the others ran, and a failed attachment keeps its record so a
    /// later gc retries it.
    ///
    /// NOTE: an attach that is still running when gc starts has no record
    /// yet and is not affected; one that finished between the host building
    /// the list and `startedAt` is detached. The host must not send gc
    /// while it has attaches in flight for unlisted sandboxes.
    public func collectGarbage(keeping request: GCRequest, startedAt: Date, deadline: Deadline,
                               log: (String) -> Void = { _ in },
                               detach: (AttachRequest) throws -> Void) throws {
        let (records, unreadable) = list()
        for path in unreadable {
            log("deleting unreadable attachment record \(path)")
            unlink(path)
        }

        var firstError: Error?
        for record in records {
            let attachment = record.request
            if request.contains(sandboxID: attachment.sandboxID, ifName: attachment.ifName) { continue }
            if record.modified >= startedAt { continue }
            if deadline.hasExpired {
                throw CNIError(code: CNIError.tryAgainLater,
                               msg: "gc ran out of time before detaching \(attachment.ifName) of sandbox \(attachment.sandboxID)")
            }
            do {
                log("detaching unlisted attachment \(attachment.ifName) of sandbox \(attachment.sandboxID) (network \(attachment.networkName))")
                try detach(attachment)
                try remove(sandboxID: attachment.sandboxID, ifName: attachment.ifName)
            } catch {
                log("gc failed to detach \(attachment.ifName) of sandbox \(attachment.sandboxID): \(error)")
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }
}
