import HydraLog
import Synchronization

/// Posts pod Events in the background, in the order they were sent. Events
/// are informational, so a failed POST is logged and not retried, and when
/// more than `capacity` Events wait, the oldest are discarded.
public final class PodEventSender: Sendable {
    /// Default maximum of Events waiting to be posted.
    public static let defaultCapacity = 256

    private let continuation: AsyncStream<PodEvent>.Continuation
    private let worker: Task<Void, Never>
    private let logger: Logger
    private let droppedCount = Mutex(0)

    public init(client: KubernetesClient, logger: Logger = Logger(component: "events"),
                capacity: Int = PodEventSender.defaultCapacity) {
        let (stream, continuation) = AsyncStream<PodEvent>.makeStream(bufferingPolicy: .bufferingNewest(max(capacity, 1)))
        self.continuation = continuation
        self.logger = logger
        worker = Task {
            for await event in stream {
                let fields = [("pod", "\(event.podNamespace)/\(event.podName)"), ("uid", event.podUID),
                              ("reason", event.reason)]
                do {
                    try await client.createEvent(event)
                } catch {
                    logger.warning("failed to post pod Event", fields + [("error", "\(error)")])
                }
            }
        }
    }

    /// Queues `event` and returns at once.
    public func send(_ event: PodEvent) {
        guard case .dropped(let dropped) = continuation.yield(event) else { return }
        let total = droppedCount.withLock { count in
            count += 1
            return count
        }
        // Log the first drop and then every 100th, so a stuck API server does not flood the log.
        if total == 1 || total % 100 == 0 {
            logger.warning("pod Event buffer is full, discarding the oldest Event",
                           [("pod", "\(dropped.podNamespace)/\(dropped.podName)"), ("reason", dropped.reason),
                            ("dropped_total", String(total))])
        }
    }

    /// Number of Events discarded because the buffer was full.
    public var discardedEvents: Int {
        droppedCount.withLock { $0 }
    }

    /// Stops posting. Events still waiting are discarded.
    public func shutdown() {
        continuation.finish()
        worker.cancel()
    }
}
