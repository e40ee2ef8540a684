import Foundation
import HydraLog
import NRIWire

extension Orchestrator {
    /// Brings the records in line with the runtime's pods. Records of
    /// sandboxes missing from the pod list are detached and deleted. Intent
    /// entries left by an interrupted attach are detached and cleared.
    /// Running pods missing planned networks get them attached (or, with
    /// `reconcile.attachMissing` off, a Warning Event). Unreadable record
    /// files are reported in the log and with an Event on their pod.
    /// Does nothing before the first Synchronize.
    public func reconcile() async {
        let (synchronized, knownPods) = state.withLock { ($0.synchronized, $0.knownPods) }
        guard synchronized else {
            logger.debug("reconcile skipped: no Synchronize received yet")
            return
        }
        count { $0.reconcilePasses += 1 }

        let loaded: (records: [SandboxRecord], unreadable: [UnreadableRecord])
        do {
            loaded = try store.loadAll()
        } catch {
            logger.error("reconcile failed to read the state directory", [("error", "\(error)")])
            return
        }
        var salvaged: [String] = []
        for unreadable in loaded.unreadable {
            reportUnreadable(unreadable, pod: knownPods[unreadable.sandboxID])
            let restored = await serializer.run(unreadable.sandboxID) {
                let log = self.sandboxLogger(unreadable.sandboxID, pod: knownPods[unreadable.sandboxID])
                return self.restoreSalvaged(unreadable, log: log) != nil
            }
            if restored { salvaged.append(unreadable.sandboxID) }
        }
        for sandboxID in loaded.records.map(\.sandboxID) + salvaged {
            await serializer.run(sandboxID) {
                await self.reconcileRecord(sandboxID: sandboxID)
            }
        }
        let skipped = Set(loaded.unreadable.map(\.sandboxID)).subtracting(salvaged)
        for pod in knownPods.values.sorted(by: { $0.id < $1.id }) where !skipped.contains(pod.id) {
            await serializer.run(pod.id) {
                await self.attachMissing(to: pod)
            }
        }
    }

    /// Runs `reconcile()` every `reconcile.intervalSeconds` until the task
    /// is cancelled. An interval of 0 pauses the pass; the setting is read
    /// again every minute.
    public func runPeriodicReconcile() async {
        while !Task.isCancelled {
            let interval = configuration.reconcile.intervalSeconds
            do {
                try await Task.sleep(for: .seconds(interval == 0 ? 60 : interval))
            } catch {
                return
            }
            if interval > 0 { await reconcile() }
        }
    }

    /// Logs and counts a record moved aside, with a Warning Event on its
    /// pod. The caller then tries `restoreSalvaged`.
    private func reportUnreadable(_ unreadable: UnreadableRecord, pod: PodSandbox?) {
        count { $0.unreadableRecords += 1 }
        sandboxLogger(unreadable.sandboxID, pod: pod)
            .error("sandbox record unreadable, moved aside; detaching what can still be decoded",
                   [("movedTo", unreadable.movedTo), ("error", unreadable.reason)])
        if let pod {
            events?.record(pod: Self.reference(pod), type: .warning, reason: "NetworkRecordUnreadable",
                           message: "Hydra's record of this sandbox's networks was unreadable and moved to \(unreadable.movedTo): \(unreadable.reason)")
        }
    }

    /// Detaches a vanished sandbox or clears an interrupted attach. The caller
    /// owns the sandbox's serializer slot.
    private func reconcileRecord(sandboxID: String) async {
        let log = sandboxLogger(sandboxID, pod: state.current.knownPods[sandboxID])
        let record: SandboxRecord
        do {
            guard let loaded = try store.load(sandboxID: sandboxID) else { return }
            record = loaded
        } catch let error as UnreadableRecordError {
            reportUnreadable(error.record, pod: state.current.knownPods[sandboxID])
            guard let salvaged = restoreSalvaged(error.record, log: log) else { return }
            record = salvaged
        } catch {
            log.error("reconcile failed to read sandbox record", [("error", "\(error)")])
            return
        }
        let podLog = logger.with([("pod", "\(record.pod.namespace)/\(record.pod.name)"), ("sandbox", sandboxID)])

        guard state.current.knownPods[sandboxID] != nil else {
            if record.attachments.isEmpty && record.intent == nil {
                removeRecordFile(sandboxID, log: podLog)
                return
            }
            podLog.info("sandbox no longer exists; detaching its networks",
                        [("attachments", String(record.attachments.count))])
            _ = await detach(record, removeRecord: true, log: podLog)
            return
        }
        guard let intent = record.intent else { return }
        podLog.warning("found an attach interrupted by a restart; detaching it",
                       [("network", intent.request.statusName), ("interface", intent.request.interface)])
        if await detachOne(intent, deadline: ContinuousClock.now + Self.detachBudget, log: podLog) == nil {
            var cleaned = record
            cleaned.intent = nil
            count { $0.intentsCleaned += 1 }
            try? save(cleaned)
        }
    }

    /// Attaches the planned networks a running pod lacks. The caller owns the
    /// sandbox's serializer slot.
    private func attachMissing(to pod: PodSandbox) async {
        // NOTE: NRI's pod list carries no sandbox state, so a stopped sandbox
        // looks like a running one. One whose namespace file is gone is
        // skipped; one whose namespace still exists gets attached.
        guard let netnsPath = pod.networkNamespacePath, FileManager.default.fileExists(atPath: netnsPath) else { return }
        // The pass works from a snapshot of the pod list, and RemovePodSandbox
        // may have run since. Attaching then would leak until the next pass.
        guard state.current.knownPods[pod.id] != nil else { return }
        let log = podLogger(pod)
        let record: SandboxRecord?
        do {
            record = try store.load(sandboxID: pod.id)
        } catch {
            return
        }
        if let record, record.stopped || record.intent != nil { return }
        // A record moved aside with nothing salvageable may have left
        // interfaces in the pod. Attaching again would collide with them, and
        // the rollback of that attach could delete them, so such a pod is
        // left to the operator.
        if record == nil && store.hasUnreadableRecord(sandboxID: pod.id) { return }

        let plans: [PlannedAttachment]
        do {
            plans = try await planner.plan(namespace: pod.namespace, name: pod.name, labels: pod.labels,
                                           annotations: pod.annotations, hasNetworkNamespace: true)
        } catch {
            log.error("reconcile cannot plan networks for a running pod", [("error", "\(error)")])
            events?.record(pod: Self.reference(pod), type: .warning, reason: "NetworkSelectionFailed", message: "\(error)")
            return
        }
        let attached = Set(record?.attachments.map(\.request.interface) ?? [])
        let missing = plans.filter { !attached.contains($0.interface) }
        guard !missing.isEmpty else { return }

        let names = missing.map { "\($0.statusName) as \($0.interface)" }.joined(separator: ", ")
        guard configuration.reconcile.attachMissing else {
            log.warning("running pod lacks networks; attaching them is disabled", [("missing", names)])
            events?.record(pod: Self.reference(pod), type: .warning, reason: "NetworksMissing",
                           message: "Pod started while Hydra was not running and lacks: \(names)")
            return
        }
        log.info("running pod lacks networks; attaching them", [("missing", names)])
        do {
            let updated = try await attach(missing, to: pod, netnsPath: netnsPath,
                                           deadline: ContinuousClock.now + Self.detachBudget,
                                           rollbackBudget: Self.detachBudget, log: log)
            publishStatus(for: pod, record: updated, log: log)
        } catch {
            log.error("reconcile failed to attach missing networks", [("error", "\(error)")])
        }
    }
}

extension Orchestrator {
    /// Saves the part of an unreadable record that still decodes (see
    /// `StateStore.salvage`) as the sandbox's record again, so detach and
    /// reconcile handle those attachments as usual. Returns the saved
    /// record, or nil when nothing could be salvaged or saved. The caller
    /// owns the sandbox's serializer slot.
    func restoreSalvaged(_ unreadable: UnreadableRecord, log: Logger) -> SandboxRecord? {
        guard let salvaged = store.salvage(unreadable) else {
            log.warning("nothing to salvage from the unreadable record", [("movedTo", unreadable.movedTo)])
            return nil
        }
        do {
            try save(salvaged)
        } catch {
            return nil
        }
        count { $0.recordsSalvaged += 1 }
        log.warning("rebuilt sandbox record from the readable part of an unreadable file",
                    [("movedTo", unreadable.movedTo), ("attachments", String(salvaged.attachments.count)),
                     ("intent", salvaged.intent?.request.interface ?? "none")])
        return salvaged
    }
}
