/// The error of a RunPodSandbox that failed after selection succeeded.
public struct AttachError: Error, Sendable, CustomStringConvertible {
    /// `namespace/name` of the pod.
    public var pod: String
    public var sandboxID: String
    /// The failure, for example `failed to attach network "a" as "net1": …`.
    public var reason: String
    /// Detach failures during the rollback; those attachments stay in the
    /// record and reconcile retries them.
    public var rollbackFailures: [String]

    public var description: String {
        var text = "pod \"\(pod)\" sandbox \(sandboxID): \(reason)"
        if !rollbackFailures.isEmpty {
            text += "; rollback incomplete, reconcile will retry: " + rollbackFailures.joined(separator: "; ")
        }
        return text
    }
}
