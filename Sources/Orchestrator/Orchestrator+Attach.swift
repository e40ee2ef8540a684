import CNI
import Foundation
import HydraLog
import NRIWire

extension Orchestrator {
    /// Attaches `plans` in order and returns the saved record. Each attach
    /// is preceded by an intent entry and followed by the completed
    /// attachment, both written atomically. On any failure, the attachments
    /// made by this call (and the failed one) are detached in reverse order
    /// and an `AttachError` is thrown. Plans whose interface the record
    /// already has are skipped, so reconcile can complete a partial record.
    /// The caller owns the sandbox's serializer slot.
    func attach(_ plans: [PlannedAttachment], to pod: PodSandbox, netnsPath: String,
                deadline: ContinuousClock.Instant, rollbackBudget: Duration, log: Logger) async throws -> SandboxRecord {
        let reference = Self.reference(pod)
        var record: SandboxRecord
        do {
            record = try store.load(sandboxID: pod.id)
                ?? SandboxRecord(sandboxID: pod.id, pod: reference, netnsPath: netnsPath)
        } catch let error as UnreadableRecordError {
            count { $0.unreadableRecords += 1 }
            log.error("sandbox record unreadable, moved aside", [("error", "\(error)")])
            record = restoreSalvaged(error.record, log: log)
                ?? SandboxRecord(sandboxID: pod.id, pod: reference, netnsPath: netnsPath)
        } catch {
            count { $0.attachFailures += 1 }
            log.error("failed to read sandbox record", [("error", "\(error)")])
            throw AttachError(pod: Self.podName(pod), sandboxID: pod.id,
                              reason: "failed to read the sandbox record: \(error)", rollbackFailures: [])
        }
        let alreadyAttached = Set(record.attachments.map(\.request.interface))
        let firstNew = record.attachments.count

        func fail(_ reason: String) async -> AttachError {
            count { $0.attachFailures += 1 }
            log.error("attach failed, rolling back", [("error", reason)])
            let failures = await rollBack(&record, keepingFirst: firstNew,
                                          deadline: ContinuousClock.now + rollbackBudget, log: log)
            events?.record(pod: reference, type: .warning, reason: "NetworkAttachFailed", message: reason)
            return AttachError(pod: Self.podName(pod), sandboxID: pod.id, reason: reason, rollbackFailures: failures)
        }

        for plan in plans where !alreadyAttached.contains(plan.interface) {
            let request = AttachmentRequest(plan: plan, sandboxID: pod.id, pod: reference, netnsPath: netnsPath)
            let label = "network \"\(request.statusName)\" as \"\(request.interface)\""
            if ContinuousClock.now >= deadline {
                throw await fail("deadline passed before attaching \(label)")
            }
            record.intent = AttachmentRecord(request: request)
            do {
                try save(record)
            } catch {
                record.intent = nil
                throw await fail("failed to write the intent entry for \(label): \(error)")
            }
            CrashPoint.reached(.afterIntent)
            let result: CNIResult
            do {
                result = try await runner.attach(request, deadline: deadline)
            } catch {
                throw await fail("failed to attach \(label): \(error)")
            }
            CrashPoint.reached(.afterBackendAttach)
            record.intent = nil
            record.attachments.append(AttachmentRecord(request: request, result: result))
            count { $0.attaches += 1 }
            do {
                try save(record)
            } catch {
                throw await fail("failed to record the attachment of \(label): \(error)")
            }
            CrashPoint.reached(.afterRecord)
            log.info("attached network", [("network", request.statusName), ("interface", request.interface),
                                          ("backend", request.backend)])
        }
        return record
    }

    /// Detaches the intent entry, then the attachments after the first
    /// `keepingFirst`, in reverse order. Saves what could not be detached
    /// (marked stopped, so reconcile retries), or deletes the record when
    /// nothing is left. Returns the detach failures.
    func rollBack(_ record: inout SandboxRecord, keepingFirst: Int, deadline: ContinuousClock.Instant,
                  log: Logger) async -> [String] {
        var failures: [String] = []
        if let intent = record.intent {
            if let failure = await detachOne(intent, deadline: deadline, log: log) {
                failures.append(failure)
            } else {
                record.intent = nil
            }
        }
        var remaining: [AttachmentRecord] = []
        for attachment in record.attachments[keepingFirst...].reversed() {
            if let failure = await detachOne(attachment, deadline: deadline, log: log) {
                failures.append(failure)
                remaining.insert(attachment, at: 0)
            }
        }
        record.attachments = Array(record.attachments[..<keepingFirst]) + remaining
        if record.attachments.isEmpty && record.intent == nil {
            removeRecordFile(record.sandboxID, log: log)
        } else {
            if !failures.isEmpty { record.stopped = keepingFirst == 0 }
            try? save(record)
        }
        return failures
    }

    /// Detaches everything the sandbox's record holds, in reverse order,
    /// continuing past failures. Keeps the failed attachments in the record
    /// for reconcile. With `removeRecord`, deletes the record once nothing
    /// is left; otherwise keeps it marked stopped. Failures are logged and
    /// counted, not thrown. Returns the number of failures.
    func detachRecorded(sandboxID: String, removeRecord: Bool, log: Logger) async -> Int {
        let record: SandboxRecord
        do {
            guard let loaded = try store.load(sandboxID: sandboxID) else { return 0 }
            record = loaded
        } catch let error as UnreadableRecordError {
            count { $0.unreadableRecords += 1 }
            log.error("sandbox record unreadable, moved aside", [("error", "\(error)")])
            guard let salvaged = restoreSalvaged(error.record, log: log) else {
                log.error("cannot detach: nothing in the unreadable record names this sandbox's attachments",
                          [("movedTo", error.record.movedTo)])
                return 1
            }
            record = salvaged
        } catch {
            count { $0.unreadableRecords += 1 }
            log.error("cannot detach: failed to read the sandbox record", [("error", "\(error)")])
            return 1
        }
        return await detach(record, removeRecord: removeRecord, log: log)
    }

    /// See `detachRecorded`; works on an already loaded record.
    func detach(_ original: SandboxRecord, removeRecord: Bool, log: Logger) async -> Int {
        var record = original
        let deadline = ContinuousClock.now + Self.detachBudget
        var failures: [String] = []
        if let intent = record.intent {
            if let failure = await detachOne(intent, deadline: deadline, log: log) {
                failures.append(failure)
            } else {
                record.intent = nil
                count { $0.intentsCleaned += 1 }
            }
        }
        var remaining: [AttachmentRecord] = []
        for attachment in record.attachments.reversed() {
            if let failure = await detachOne(attachment, deadline: deadline, log: log) {
                failures.append(failure)
                remaining.insert(attachment, at: 0)
            }
        }
        record.attachments = remaining
        record.stopped = true

        if failures.isEmpty && removeRecord {
            removeRecordFile(record.sandboxID, log: log)
        } else if record != original {
            try? save(record)
        }
        if !failures.isEmpty {
            log.error("detach incomplete; reconcile will retry", [("failures", failures.joined(separator: "; "))])
        }
        return failures.count
    }

    /// Runs one detach. Returns nil on success, or the failure text.
    func detachOne(_ attachment: AttachmentRecord, deadline: ContinuousClock.Instant, log: Logger) async -> String? {
        let label = "network \"\(attachment.request.statusName)\" as \"\(attachment.request.interface)\""
        do {
            try await runner.detach(attachment, deadline: deadline)
            log.info("detached network", [("network", attachment.request.statusName),
                                          ("interface", attachment.request.interface)])
            return nil
        } catch {
            count { $0.detachFailures += 1 }
            log.error("detach failed", [("network", attachment.request.statusName),
                                        ("interface", attachment.request.interface), ("error", "\(error)")])
            return "failed to detach \(label): \(error)"
        }
    }

    /// Writes a record, counting and logging a failure before rethrowing it.
    func save(_ record: SandboxRecord) throws {
        do {
            try store.save(record)
        } catch {
            count { $0.stateWriteFailures += 1 }
            logger.error("failed to write sandbox record",
                         [("pod", "\(record.pod.namespace)/\(record.pod.name)"), ("sandbox", record.sandboxID),
                          ("error", "\(error)")])
            throw error
        }
    }

    func removeRecordFile(_ sandboxID: String, log: Logger) {
        do {
            try store.remove(sandboxID: sandboxID)
        } catch {
            count { $0.stateWriteFailures += 1 }
            log.error("failed to delete sandbox record", [("error", "\(error)")])
        }
    }

    /// Queues the network-status patch and the AddedInterface Events. Runs
    /// off the attach path: it only enqueues, except that reading the
    /// default interface (for runtimes that send no pod IPs) runs in a task.
    func publishStatus(for pod: PodSandbox, record: SandboxRecord, log: Logger) {
        let reference = Self.reference(pod)
        for attachment in record.attachments {
            let ips = attachment.result?.ips.map(\.address).joined(separator: ",") ?? ""
            events?.record(pod: reference, type: .normal, reason: "AddedInterface",
                           message: "Added interface \(attachment.request.interface) [\(ips)] from network \(attachment.request.statusName)")
        }
        guard let publisher else { return }
        let settings = configuration.annotations
        if !pod.ips.isEmpty || inspector == nil {
            let entry = NetworkStatus.defaultEntry(name: settings.defaultNetworkName, interface: settings.defaultInterface,
                                                   ips: pod.ips, mac: nil)
            publisher.enqueue(pod: reference, annotations: NetworkStatus.annotations(for: record, defaultEntry: entry, settings: settings))
            return
        }
        let inspector = self.inspector
        Task {
            var entry: NetworkStatusEntry?
            do {
                if let inspector {
                    let found = try await inspector.inspect(netnsPath: record.netnsPath, interface: settings.defaultInterface)
                    entry = NetworkStatus.defaultEntry(name: settings.defaultNetworkName, interface: settings.defaultInterface,
                                                       ips: found.ips, mac: found.mac)
                }
            } catch {
                log.warning("failed to read the default interface; network-status lacks the default network",
                            [("interface", settings.defaultInterface), ("error", "\(error)")])
            }
            publisher.enqueue(pod: reference, annotations: NetworkStatus.annotations(for: record, defaultEntry: entry, settings: settings))
        }
    }
}
