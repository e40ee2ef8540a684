import Foundation
import HydraLog

/// Delays between retries: `initial`, doubled after each failure up to `maximum`.
public struct RetryBackoff: Sendable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Returns the delay before retry number `failures` (1 for the first retry).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = initial
        for _ in 1..<max(failures, 1) {
            delay *= 2
            if delay >= maximum {
                return maximum
            }
        }
        return min(delay, maximum)
    }
}

/// Counters of an `AnnotationPatchQueue`, for metrics.
public struct AnnotationPatchQueueStatistics: Sendable, Equatable {
    /// Pods with a patch waiting or in flight.
    public var depth: Int
    /// Requests repeated because the API server was unreachable, returned
    /// 429/5xx or reported a conflict.
    public var retries: Int
    /// Patches applied.
    public var applied: Int
    /// Patches dropped because the pod is gone, was replaced, or the API
    /// server rejected the patch for good.
    public var dropped: Int
    /// Patches dropped because the queue was full.
    public var overflowed: Int
    /// Patches merged into one already waiting for the same pod.
    public var coalesced: Int
}

/// Applies pod annotation patches off the caller's path. Each patch first
/// reads the pod and checks its UID, so a pod replaced under the same name is
/// never patched, then sends a JSON merge patch carrying the UID as a
/// precondition. Requests are retried with capped exponential backoff while
/// the API server is unreachable or returns 429/5xx, and dropped with a log
/// line once the pod is gone. Patches waiting for the same pod are merged.
/// Patches run one at a time in arrival order, so a retry delays the patches
/// behind it. That costs little because an unreachable API server fails them all.
public actor AnnotationPatchQueue {
    /// Default maximum of pods with a waiting patch.
    public static let defaultCapacity = 4096

    private struct PendingPatch {
        var uid: String
        var annotations: [String: String?]
        /// Failed attempts of this patch so far.
        var failures = 0
    }

    private let client: KubernetesClient
    private let logger: Logger
    private let backoff: RetryBackoff
    private let capacity: Int

    /// Waiting patches by pod, and the order they arrived in.
    private var pending: [NamespacedName: PendingPatch] = [:]
    private var order: [NamespacedName] = []
    private var worker: Task<Void, Never>?
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    private var statistics = AnnotationPatchQueueStatistics(depth: 0, retries: 0, applied: 0, dropped: 0,
                                                            overflowed: 0, coalesced: 0)
    private var inFlight: NamespacedName?

    /// Hands patches from `submit` to the actor in the order they were submitted.
    private struct Submission: Sendable {
        var namespace: String
        var name: String
        var uid: String
        var annotations: [String: String?]
    }
    private let submissions: AsyncStream<Submission>.Continuation

    public init(client: KubernetesClient, logger: Logger = Logger(component: "annotation-queue"),
                backoff: RetryBackoff = RetryBackoff(), capacity: Int = AnnotationPatchQueue.defaultCapacity) {
        self.client = client
        self.logger = logger
        self.backoff = backoff
        self.capacity = max(capacity, 1)
        let (stream, continuation) = AsyncStream<Submission>.makeStream()
        self.submissions = continuation
        Task { [weak self] in
            for await submission in stream {
                guard let self else { return }
                await self.enqueue(namespace: submission.namespace, name: submission.name, uid: submission.uid,
                                   annotations: submission.annotations)
            }
        }
    }

    deinit {
        submissions.finish()
    }

    /// Queues a patch like `enqueue` without awaiting the actor, for callers
    /// that cannot suspend. Patches submitted from one thread keep their order.
    public nonisolated func submit(namespace: String, name: String, uid: String, annotations: [String: String?]) {
        submissions.yield(Submission(namespace: namespace, name: name, uid: uid, annotations: annotations))
    }

    /// Queues `annotations` for the pod `namespace/name` whose UID is `uid`
    /// and returns at once. A patch already waiting for the same pod and UID
    /// absorbs these annotations, and later values win. A waiting patch for
    /// another UID is replaced, because that pod no longer exists.
    public func enqueue(namespace: String, name: String, uid: String, annotations: [String: String?]) {
        let pod = NamespacedName(namespace: namespace, name: name)
        if var existing = pending[pod] {
            if existing.uid == uid {
                existing.annotations.merge(annotations) { _, new in new }
                statistics.coalesced += 1
            } else {
                logger.info("replacing a waiting annotation patch for a pod with a new UID",
                            [("pod", pod.description), ("old_uid", existing.uid), ("uid", uid)])
                existing = PendingPatch(uid: uid, annotations: annotations)
            }
            pending[pod] = existing
        } else {
            if pending.count >= capacity {
                dropOldest()
            }
            pending[pod] = PendingPatch(uid: uid, annotations: annotations)
            order.append(pod)
        }
        updateDepth()
        startWorkerIfNeeded()
    }

    /// Returns the current counters.
    public func currentStatistics() -> AnnotationPatchQueueStatistics {
        statistics
    }

    /// Waits until no patch is waiting or in flight. A patch passed to
    /// `submit` counts only once the actor has taken it from the stream.
    public func waitUntilIdle() async {
        if pending.isEmpty && inFlight == nil {
            return
        }
        await withCheckedContinuation { idleWaiters.append($0) }
    }

    /// Stops the worker; waiting patches are discarded with a log line.
    public func shutdown() {
        worker?.cancel()
        worker = nil
        if !pending.isEmpty {
            logger.warning("discarding waiting annotation patches at shutdown", [("count", String(pending.count))])
        }
        pending.removeAll()
        order.removeAll()
        updateDepth()
        resumeIdleWaiters()
    }

    // MARK: Worker

    private func startWorkerIfNeeded() {
        guard worker == nil else { return }
        worker = Task { [weak self] in
            await self?.runWorker()
        }
    }

    private func runWorker() async {
        while !Task.isCancelled, let pod = order.first {
            order.removeFirst()
            guard var patch = pending.removeValue(forKey: pod) else { continue }
            inFlight = pod

            let outcome = await apply(patch, to: pod)
            inFlight = nil
            switch outcome {
            case .done:
                break
            case .retry:
                patch.failures += 1
                statistics.retries += 1
                // A patch queued for this pod while the request ran contains newer
                // annotations, so the failed one is merged underneath it.
                if var newer = pending[pod] {
                    if newer.uid == patch.uid {
                        newer.annotations = patch.annotations.merging(newer.annotations) { _, new in new }
                        newer.failures = patch.failures
                        pending[pod] = newer
                    }
                } else {
                    pending[pod] = patch
                    order.insert(pod, at: 0)
                }
                let delay = backoff.delay(afterFailures: patch.failures)
                try? await Task.sleep(for: delay)
            }
            updateDepth()
        }
        worker = nil
        if !order.isEmpty && !Task.isCancelled {
            startWorkerIfNeeded()
        }
        resumeIdleWaiters()
    }

    private enum Outcome {
        case done
        case retry
    }

    /// Reads the pod, checks its UID and sends the merge patch.
    /// NOTE: the log lines name the pod and its UID but no sandbox id: the
    /// queue is keyed by pod, merges patches from any of its sandboxes, and
    /// PodStatusPublisher passes no sandbox id.
    private func apply(_ patch: PendingPatch, to pod: NamespacedName) async -> Outcome {
        let fields = [("pod", pod.description), ("uid", patch.uid), ("attempt", String(patch.failures + 1))]
        do {
            let current = try await client.getPod(namespace: pod.namespace, name: pod.name)
            guard current.metadata.uid == patch.uid else {
                statistics.dropped += 1
                logger.info("dropping annotation patch: the pod was replaced by one with another UID",
                            fields + [("current_uid", current.metadata.uid ?? "")])
                return .done
            }
            _ = try await client.patchPodAnnotations(namespace: pod.namespace, name: pod.name, uid: patch.uid,
                                                     annotations: patch.annotations)
            statistics.applied += 1
            logger.debug("applied annotation patch", fields + [("keys", patch.annotations.keys.sorted().joined(separator: ","))])
            return .done
        } catch let error as KubernetesError {
            if error.isNotFound {
                statistics.dropped += 1
                logger.info("dropping annotation patch: the pod no longer exists", fields)
                return .done
            }
            if error.isUnavailable || error.isConflict {
                logger.warning("annotation patch failed, will retry", fields + [("error", error.description)])
                return .retry
            }
            statistics.dropped += 1
            logger.error("dropping annotation patch: the API server rejected it", fields + [("error", error.description)])
            return .done
        } catch {
            statistics.dropped += 1
            logger.error("dropping annotation patch", fields + [("error", "\(error)")])
            return .done
        }
    }

    private func dropOldest() {
        guard let oldest = order.first else { return }
        order.removeFirst()
        pending.removeValue(forKey: oldest)
        statistics.overflowed += 1
        logger.warning("annotation patch queue is full, dropping the oldest waiting patch",
                       [("pod", oldest.description), ("capacity", String(capacity))])
    }

    private func updateDepth() {
        statistics.depth = pending.count + (inFlight == nil ? 0 : 1)
    }

    private func resumeIdleWaiters() {
        guard pending.isEmpty && inFlight == nil else { return }
        let waiters = idleWaiters
        idleWaiters.removeAll()
        for waiter in waiters {
            waiter.resume()
        }
    }
}
