import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog

/// One backend the host configuration names.
public struct BackendSpec: Sendable, Equatable {
    /// Backend name; also picks the file `<directory>/libhydra-backend-<name>.so`.
    public var name: String
    /// Explicit library path; overrides the file-name convention.
    public var path: String?
    /// Whether a failure to load this backend stops the host.
    public var required: Bool
    /// The backend's configuration object, passed to its init.
    public var configuration: JSONValue

    public init(name: String, path: String? = nil, required: Bool = false, configuration: JSONValue = .object([:])) {
        self.name = name
        self.path = path
        self.required = required
        self.configuration = configuration
    }
}

/// The backends that loaded, and the errors of those that did not.
public final class BackendSet: Sendable {
    public let backends: [LoadedBackend]
    /// Load errors of optional backends; each was logged.
    public let failures: [BackendLoadError]

    init(backends: [LoadedBackend], failures: [BackendLoadError]) {
        self.backends = backends
        self.failures = failures
    }

    /// Returns the backend serving CNI `type`, or nil when no loaded backend does.
    public func backend(forType type: String) -> LoadedBackend? {
        backends.first { $0.types.contains(type) }
    }

    /// Calls shutdown on every backend, in reverse load order.
    public func shutdown() {
        for backend in backends.reversed() { backend.shutdown() }
    }
}

/// Loads the backends the configuration names, checking each library before
/// any of its code but the entry function runs.
public struct BackendLoader: Sendable {
    /// Default directory of the `libhydra-backend-<name>.so` files.
    public static let defaultDirectory = "/usr/lib/hydra/backends"
    /// Parent of the backends' private state directories by default.
    public static let defaultStateRoot = "/var/lib/hydra/backends"

    public var directory: String
    public var stateRoot: String
    public var executor: CNIExecutor
    public var logger: Logger

    public init(directory: String = BackendLoader.defaultDirectory,
                stateRoot: String = BackendLoader.defaultStateRoot,
                executor: CNIExecutor = CNIExecutor(),
                logger: Logger = Logger(component: "backend-loader")) {
        self.directory = directory
        self.stateRoot = stateRoot
        self.executor = executor
        self.logger = logger
    }

    /// Returns the library path for `spec`: its explicit path, or the
    /// convention `<directory>/libhydra-backend-<name>.so`.
    public func libraryPath(for spec: BackendSpec) -> String {
        spec.path ?? "\(directory)/libhydra-backend-\(spec.name).so"
    }

    /// Loads and initializes every spec in order. A failing optional backend
    /// is logged and skipped; a failing required one throws its error after
    /// the backends loaded so far were shut down. A backend claiming a type
    /// that an earlier one serves is rejected before its init runs.
    public func load(_ specs: [BackendSpec]) throws(BackendLoadError) -> BackendSet {
        var loaded: [LoadedBackend] = []
        var failures: [BackendLoadError] = []
        for spec in specs {
            do {
                loaded.append(try loadOne(spec, alongside: loaded))
            } catch {
                if spec.required {
                    logger.error("required backend failed to load", [("backend", spec.name), ("error", error.description)])
                    for backend in loaded.reversed() { backend.shutdown() }
                    throw error
                }
                logger.error("optional backend failed to load; continuing without it",
                             [("backend", spec.name), ("error", error.description)])
                failures.append(error)
            }
        }
        return BackendSet(backends: loaded, failures: failures)
    }

    /// Opens, validates and initializes one backend; `alongside` are the
    /// backends already loaded, checked for type conflicts.
    public func loadOne(_ spec: BackendSpec, alongside others: [LoadedBackend] = []) throws(BackendLoadError) -> LoadedBackend {
        let path = libraryPath(for: spec)
        let library = try BackendLibrary.open(path: path)
        for type in library.types {
            if let owner = others.first(where: { $0.types.contains(type) }) {
                throw .duplicateType(path: path, type: type, servedBy: owner.name)
            }
        }
        if library.name != spec.name {
            logger.warning("backend library name differs from the configured name",
                           [("configured", spec.name), ("library", library.name), ("path", path)])
        }
        return try LoadedBackend(library: library, configuration: spec.configuration,
                                 stateDirectory: "\(stateRoot)/\(library.name)",
                                 executor: executor, logger: logger.component("backend"))
    }
}
