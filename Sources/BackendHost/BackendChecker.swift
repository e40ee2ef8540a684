import BackendAPI
import BackendSDK
import CNI
import CNIExec
import Foundation
import Glibc
import HydraLog

/// Settings of one conformance run (`hydra backend check`).
public struct BackendCheckOptions: Sendable {
    /// The backend library to check.
    public var libraryPath: String
    /// The backend configuration passed to init.
    public var backendConfiguration: JSONValue
    /// The network configuration sent in every request. Nil means
    /// `{"cniVersion":"1.0.0","name":"hydra-check","type":<first type>}`;
    /// a given one gets those keys filled in when it lacks them.
    public var networkConfiguration: JSONValue?
    /// Deadline of each backend call, in seconds.
    public var callTimeoutSeconds: Double
    /// How many attachments run at once in the parallel check.
    public var parallelAttachments: Int
    /// Interface name used inside the throwaway namespaces.
    public var interfaceName: String
    /// Directories searched for CNI plugin binaries when the backend uses
    /// the exec_cni_plugin host service.
    public var cniPluginDirectories: [String]
    /// Whether `hydra backend check` stays in the machine's own network
    /// namespace instead of moving into a private one first.
    public var hostNamespace: Bool

    public init(libraryPath: String, backendConfiguration: JSONValue = .object([:]),
                networkConfiguration: JSONValue? = nil, callTimeoutSeconds: Double = 10,
                parallelAttachments: Int = 4, interfaceName: String = "hcheck0",
                cniPluginDirectories: [String] = CNIExecutor.defaultPluginDirectories, hostNamespace: Bool = false) {
        self.libraryPath = libraryPath
        self.backendConfiguration = backendConfiguration
        self.networkConfiguration = networkConfiguration
        self.callTimeoutSeconds = callTimeoutSeconds
        self.parallelAttachments = parallelAttachments
        self.interfaceName = interfaceName
        self.cniPluginDirectories = cniPluginDirectories
        self.hostNamespace = hostNamespace
    }
}

/// The outcome of one check.
public struct BackendCheckResult: Sendable, Equatable {
    public enum Status: String, Sendable { case pass = "PASS", fail = "FAIL", skip = "SKIP" }

    public var name: String
    public var status: Status
    /// The reason for a failure or skip, or what the check saw when it passed.
    public var detail: String

    /// The line printed for the check: status, name and detail.
    public var line: String {
        detail.isEmpty ? "\(status.rawValue)  \(name)" : "\(status.rawValue)  \(name): \(detail)"
    }
}

/// The conformance checker behind `hydra backend check`: loads a backend
/// library exactly as the daemon does, then exercises it in throwaway
/// network namespaces (created with `ip netns add`, deleted afterwards) and
/// reads the results back from the kernel with `ip`. Needs root.
///
/// NOTE: a backend that crashes ends the whole run, because it runs inside
/// this process just as it would inside the daemon. The last printed line
/// then names the check before the crash.
public struct BackendChecker: Sendable {
    public let options: BackendCheckOptions
    private let logger: Logger

    public init(options: BackendCheckOptions, logger: Logger = Logger(component: "backend-check")) {
        self.options = options
        self.logger = logger
    }

    /// Runs every check in order, handing each result to `report` as soon as
    /// it is known, and returns them all. Checks that need an initialized
    /// backend are not run when loading or init failed.
    public func run(report: @escaping @Sendable (BackendCheckResult) -> Void = { _ in }) async -> [BackendCheckResult] {
        let run = CheckRun(options: options, logger: logger, report: report)
        await run.runAll()
        return run.results
    }
}

/// State of one conformance run: results, namespaces and the loaded backend.
private final class CheckRun: @unchecked Sendable {
    // Used from one task at a time except in the parallel check, where
    // `lock` guards `results` and `namespaces`.
    let options: BackendCheckOptions
    let logger: Logger
    let report: @Sendable (BackendCheckResult) -> Void
    let runID = String(UInt32.random(in: 0...0xFFFFFF), radix: 16)
    let workDirectory: String
    private let lock = NSLock()
    private(set) var results: [BackendCheckResult] = []
    private var namespaces: [String] = []
    private var backend: LoadedBackend?
    private var networkConfig: JSONValue = .object([:])
    private var counter = 0

    init(options: BackendCheckOptions, logger: Logger, report: @escaping @Sendable (BackendCheckResult) -> Void) {
        self.options = options
        self.logger = logger
        self.report = report
        workDirectory = "/tmp/hydra-check-\(runID)"
    }

    func runAll() async {
        defer { cleanUp() }
        guard getuid() == 0 else {
            record("run as root", .fail, "hydra backend check creates network namespaces and needs root")
            return
        }
        guard let library = checkLoad(), checkIdentify(library), checkInit(library) else { return }
        await checkAttachLifecycle()
        await checkDetachAfterNamespaceDeletion()
        await checkMalformedRequests()
        await checkParallelAttaches()
        await checkGarbageCollection()
        checkShutdown()
    }

    // MARK: - Loading

    private func checkLoad() -> BackendLibrary? {
        do {
            let library = try BackendLibrary.open(path: options.libraryPath)
            record("load library", .pass, "\(library.path): entry symbol and ABI version \(HYDRA_BACKEND_ABI_VERSION) found")
            return library
        } catch {
            record("load library", .fail, error.description)
            return nil
        }
    }

    private func checkIdentify(_ library: BackendLibrary) -> Bool {
        guard !library.version.isEmpty else {
            record("identify", .fail, "backend \"\(library.name)\" has an empty version")
            return false
        }
        let safety = library.isThreadSafe ? "thread-safe" : "not thread-safe"
        let gc = library.hasGarbageCollection ? "gc" : "no gc"
        record("identify", .pass, "name \(library.name), version \(library.version), types \(library.types.joined(separator: ",")), \(safety), \(gc)")
        return true
    }

    private func checkInit(_ library: BackendLibrary) -> Bool {
        do {
            backend = try LoadedBackend(library: library, configuration: options.backendConfiguration,
                                        stateDirectory: "\(workDirectory)/state/\(library.name)",
                                        executor: CNIExecutor(pluginDirectories: options.cniPluginDirectories),
                                        logger: logger)
        } catch {
            record("init", .fail, error.description)
            return false
        }
        var config = options.networkConfiguration ?? .object([:])
        if config["type"] == nil { config["type"] = .string(library.types[0]) }
        if config["name"] == nil { config["name"] = "hydra-check" }
        if config["cniVersion"] == nil { config["cniVersion"] = "1.0.0" }
        networkConfig = config
        record("init", .pass, "configuration \(options.backendConfiguration.encodedString())")
        return true
    }

    // MARK: - Attach, check, detach

    private func checkAttachLifecycle() async {
        guard let backend, let namespace = createNamespace("attach") else { return }
        let request = makeRequest(namespace: namespace)

        let result: CNIResult
        do {
            result = try await backend.attach(request, deadline: callDeadline())
        } catch {
            record("attach returns a valid result", .fail, error.description)
            for name in ["interface exists after attach", "check passes", "detach removes the interface",
                         "second detach succeeds"] {
                record(name, .skip, "attach failed")
            }
            return
        }
        if let problem = resultProblem(result, request: request) {
            record("attach returns a valid result", .fail, problem)
        } else {
            record("attach returns a valid result", .pass, describe(result))
        }

        if linkExists(namespace: namespace, interface: request.ifName) {
            record("interface exists after attach", .pass, "\(request.ifName) found in \(request.netns)")
        } else {
            record("interface exists after attach", .fail, "no interface \(request.ifName) in \(request.netns) after attach")
        }

        var checked = request
        checked.prevResult = try? result.jsonValue()
        do {
            try await backend.check(checked, deadline: callDeadline())
            record("check passes", .pass, "")
        } catch {
            record("check passes", .fail, error.description)
        }

        do {
            try await backend.detach(checked, deadline: callDeadline())
            if linkExists(namespace: namespace, interface: request.ifName) {
                record("detach removes the interface", .fail, "\(request.ifName) still present in \(request.netns) after detach")
            } else {
                record("detach removes the interface", .pass, "")
            }
        } catch {
            record("detach removes the interface", .fail, error.description)
        }

        do {
            try await backend.detach(checked, deadline: callDeadline())
            record("second detach succeeds", .pass, "")
        } catch {
            record("second detach succeeds", .fail, "detach must be idempotent: \(error.description)")
        }
    }

    private func checkDetachAfterNamespaceDeletion() async {
        let name = "detach after namespace deletion"
        guard let backend, let namespace = createNamespace("gone") else { return }
        let request = makeRequest(namespace: namespace)
        var attached = request
        do {
            attached.prevResult = try await backend.attach(request, deadline: callDeadline()).jsonValue()
        } catch {
            record(name, .skip, "attach failed: \(error)")
            return
        }
        deleteNamespace(namespace)
        do {
            try await backend.detach(attached, deadline: callDeadline())
            record(name, .pass, "")
        } catch {
            record(name, .fail, "detach must succeed when the namespace is gone: \(error.description)")
        }
    }

    // MARK: - Malformed input

    private func checkMalformedRequests() async {
        guard let backend else { return }
        let cases: [(operation: String, text: String, what: String)] = [
            ("attach", "{\"sandboxID\": ", "truncated JSON"),
            ("attach", "[1, 2, 3]", "a JSON array"),
            ("attach", "{}", "an object without fields"),
            ("attach", "{\"sandboxID\":\"x\",\"ifName\":\"eth9\",\"netns\":\"/nonexistent/ns\",\"config\":\(networkConfig.encodedString())}", "a missing namespace"),
            ("detach", "not json", "text that is not JSON"),
            ("check", "{\"sandboxID\": 7}", "a number as sandboxID"),
        ]
        var problems: [String] = []
        for item in cases {
            do {
                _ = try await backend.callRaw(operation: item.operation, requestText: item.text, deadline: callDeadline())
                problems.append("\(item.operation) accepted \(item.what)")
            } catch {
                switch error.kind {
                case .backendError:
                    if error.message.isEmpty || error.message == "no message" {
                        problems.append("\(item.operation) rejected \(item.what) without an error message")
                    }
                default:
                    problems.append("\(item.operation) with \(item.what): \(error.description)")
                }
            }
        }
        if problems.isEmpty {
            record("malformed requests are rejected", .pass, "\(cases.count) malformed requests got errors")
        } else {
            record("malformed requests are rejected", .fail, problems.joined(separator: "; "))
        }
    }

    // MARK: - Concurrency

    private func checkParallelAttaches() async {
        let name = "parallel attaches succeed"
        guard let backend else { return }
        var requests: [AttachRequest] = []
        for _ in 0..<max(1, options.parallelAttachments) {
            guard let namespace = createNamespace("par") else { return }
            requests.append(makeRequest(namespace: namespace))
        }
        let deadline = callDeadline()
        let failures = await withTaskGroup(of: String?.self) { group in
            for request in requests {
                group.addTask {
                    do {
                        _ = try await backend.attach(request, deadline: deadline)
                        return nil
                    } catch {
                        return "\(request.netns): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        var problems = failures
        for request in requests where !linkExists(namespace: namespaceName(request.netns), interface: request.ifName) {
            problems.append("no interface \(request.ifName) in \(request.netns)")
        }
        for request in requests { try? await backend.detach(request, deadline: callDeadline()) }
        if problems.isEmpty {
            record(name, .pass, "\(requests.count) attaches at once")
        } else {
            record(name, .fail, problems.joined(separator: "; "))
        }
    }

    // MARK: - Garbage collection

    private func checkGarbageCollection() async {
        let name = "gc removes unlisted attachments"
        guard let backend else { return }
        guard backend.library.hasGarbageCollection else {
            record(name, .skip, "the backend has no gc function (optional)")
            return
        }
        guard let keptNamespace = createNamespace("keep"), let droppedNamespace = createNamespace("drop") else { return }
        let kept = makeRequest(namespace: keptNamespace)
        let dropped = makeRequest(namespace: droppedNamespace)
        do {
            _ = try await backend.attach(kept, deadline: callDeadline())
            _ = try await backend.attach(dropped, deadline: callDeadline())
        } catch {
            record(name, .skip, "attach failed: \(error)")
            return
        }
        let gcRequest = GCRequest(validAttachments: [
            AttachmentID(sandboxID: kept.sandboxID, networkName: kept.networkName, ifName: kept.ifName),
        ])
        do {
            try await backend.garbageCollect(gcRequest, deadline: callDeadline())
        } catch {
            record(name, .fail, error.description)
            try? await backend.detach(kept, deadline: callDeadline())
            try? await backend.detach(dropped, deadline: callDeadline())
            return
        }
        var problems: [String] = []
        if linkExists(namespace: droppedNamespace, interface: dropped.ifName) {
            problems.append("\(dropped.ifName) of unlisted sandbox \(dropped.sandboxID) still in \(dropped.netns)")
        }
        if !linkExists(namespace: keptNamespace, interface: kept.ifName) {
            problems.append("\(kept.ifName) of listed sandbox \(kept.sandboxID) was removed from \(kept.netns)")
        }
        if problems.isEmpty {
            record(name, .pass, "")
        } else {
            record(name, .fail, problems.joined(separator: "; "))
        }
        try? await backend.detach(kept, deadline: callDeadline())
        try? await backend.detach(dropped, deadline: callDeadline())
    }

    private func checkShutdown() {
        backend?.shutdown()
        record("shutdown", .pass, "")
    }

    // MARK: - Helpers

    private func record(_ name: String, _ status: BackendCheckResult.Status, _ detail: String) {
        let result = BackendCheckResult(name: name, status: status, detail: detail)
        lock.lock()
        results.append(result)
        lock.unlock()
        report(result)
    }

    private func callDeadline() -> Deadline {
        .after(seconds: options.callTimeoutSeconds)
    }

    private func makeRequest(namespace: String) -> AttachRequest {
        lock.lock()
        counter += 1
        let number = counter
        lock.unlock()
        return AttachRequest(sandboxID: "hydra-check-\(runID)-\(number)", podName: "hydra-check-\(number)",
                             podNamespace: "default", podUID: UUID().uuidString.lowercased(),
                             netns: "/var/run/netns/\(namespace)", ifName: options.interfaceName,
                             networkName: networkConfig["name"]?.stringValue ?? "hydra-check",
                             config: networkConfig,
                             args: ["K8S_POD_NAME": "hydra-check-\(number)", "K8S_POD_NAMESPACE": "default",
                                    "IgnoreUnknown": "1"])
    }

    /// Problems of an attach result beyond what parsing already checked.
    private func resultProblem(_ result: CNIResult, request: AttachRequest) -> String? {
        guard let interface = result.interfaces.first(where: { $0.name == request.ifName }) else {
            return "result lists no interface named \(request.ifName): \(describe(result))"
        }
        guard interface.sandbox == request.netns else {
            return "interface \(request.ifName) has sandbox \(interface.sandbox ?? "(none)"), expected \(request.netns)"
        }
        for ip in result.ips {
            if let index = ip.interface, !result.interfaces.indices.contains(index) {
                return "ip \(ip.address) points at interface index \(index), outside the interfaces list"
            }
        }
        return nil
    }

    private func describe(_ result: CNIResult) -> String {
        (try? result.jsonValue().encodedString()) ?? "\(result)"
    }

    private func createNamespace(_ purpose: String) -> String? {
        lock.lock()
        counter += 1
        let name = "hck-\(runID)-\(counter)"
        lock.unlock()
        if let error = runIP(["netns", "add", name]) {
            record("create namespace for \(purpose)", .fail, "ip netns add \(name) failed: \(error)")
            return nil
        }
        lock.lock()
        namespaces.append(name)
        lock.unlock()
        return name
    }

    private func deleteNamespace(_ name: String) {
        _ = runIP(["netns", "del", name])
        lock.lock()
        namespaces.removeAll { $0 == name }
        lock.unlock()
    }

    private func namespaceName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }

    private func linkExists(namespace: String, interface: String) -> Bool {
        runIP(["-n", namespace, "link", "show", "dev", interface]) == nil
    }

    private func cleanUp() {
        backend?.shutdown()
        lock.lock()
        let remaining = namespaces
        namespaces = []
        lock.unlock()
        for name in remaining { _ = runIP(["netns", "del", name]) }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// Runs ip(8) with `arguments`; returns nil on success, else its stderr.
    private func runIP(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "failed to run /usr/sbin/ip: \(error)"
        }
        let errorOutput = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errorOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? "exit status \(process.terminationStatus)" : text
        }
        return nil
    }
}
