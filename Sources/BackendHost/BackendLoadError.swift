/// The reason a backend failed to load. Every case names the library file, so
/// the start-up error alone shows the operator which file to fix.
public enum BackendLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The library file does not exist.
    case fileNotFound(path: String)
    /// The file is not an ELF shared object (`reason` describes what it is).
    case notSharedObject(path: String, reason: String)
    /// dlopen failed for another reason, for example a missing dependency.
    case openFailed(path: String, dlerror: String)
    /// The library does not export `hydra_backend_entry`.
    case missingSymbol(path: String, symbol: String)
    /// The table was built for another ABI version.
    case abiMismatch(path: String, found: UInt32, expected: UInt32)
    /// The table is NULL, too small, or lacks a name, a type or a required function.
    case invalidTable(path: String, reason: String)
    /// Another loaded backend already serves `type`.
    case duplicateType(path: String, type: String, servedBy: String)
    /// The backend's init returned an error.
    case initFailed(path: String, code: UInt32, message: String)
    /// The state directory could not be created.
    case stateDirectoryFailed(path: String, directory: String, reason: String)

    /// The library file the error is about.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .notSharedObject(let path, _), .openFailed(let path, _),
             .missingSymbol(let path, _), .abiMismatch(let path, _, _), .invalidTable(let path, _),
             .duplicateType(let path, _, _), .initFailed(let path, _, _), .stateDirectoryFailed(let path, _, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "backend \(path): file not found"
        case .notSharedObject(let path, let reason):
            return "backend \(path): not a shared object (\(reason))"
        case .openFailed(let path, let dlerror):
            return "backend \(path): dlopen failed: \(dlerror)"
        case .missingSymbol(let path, let symbol):
            return "backend \(path): missing symbol \(symbol); a backend must export it (see hydra_backend.h)"
        case .abiMismatch(let path, let found, let expected):
            return "backend \(path): ABI version mismatch: the library was built for ABI \(found), this host supports ABI \(expected); rebuild it against this host's hydra_backend.h"
        case .invalidTable(let path, let reason):
            return "backend \(path): invalid backend table: \(reason)"
        case .duplicateType(let path, let type, let servedBy):
            return "backend \(path): type \"\(type)\" is already served by backend \"\(servedBy)\""
        case .initFailed(let path, let code, let message):
            return "backend \(path): init failed: \(message) (code \(code))"
        case .stateDirectoryFailed(let path, let directory, let reason):
            return "backend \(path): failed to create state directory \(directory): \(reason)"
        }
    }
}
