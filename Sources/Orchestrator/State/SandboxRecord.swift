import CNI

/// The record of one sandbox's attachments, stored in one file per sandbox.
public struct SandboxRecord: Sendable, Equatable {
    public var sandboxID: String
    public var pod: PodReference
    /// The pod's network namespace when it was attached.
    public var netnsPath: String
    /// Completed attachments, in attach order.
    public var attachments: [AttachmentRecord]
    /// The attach in progress: written before the runner is called and
    /// cleared after. Found set at start-up, it means Hydra stopped mid-attach.
    public var intent: AttachmentRecord?
    /// True once StopPodSandbox or RemovePodSandbox ran for the sandbox.
    public var stopped: Bool

    public init(sandboxID: String, pod: PodReference, netnsPath: String,
                attachments: [AttachmentRecord] = [], intent: AttachmentRecord? = nil, stopped: Bool = false) {
        self.sandboxID = sandboxID
        self.pod = pod
        self.netnsPath = netnsPath
        self.attachments = attachments
        self.intent = intent
        self.stopped = stopped
    }
}
