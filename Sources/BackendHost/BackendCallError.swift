import BackendAPI
import CNI

/// A failed call into a loaded backend, for one attachment. Every case names
/// the backend and the operation, so the error and its log line show where
/// the failure came from.
public struct BackendCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The backend returned an error code allowed by the ABI and its message.
        case backendError
        /// The backend returned a code the ABI does not allow (an unassigned
        /// code below 100, or a code at or above 1000).
        case unknownErrorCode
        /// The backend's attach result is not a valid CNI result.
        case invalidResult
        /// The call did not return before its deadline.
        case deadlineExceeded
        /// The backend does not implement the operation (gc is NULL).
        case notSupported
    }

    public var kind: Kind
    public var backend: String
    /// "attach", "detach", "check" or "gc".
    public var operation: String
    /// The code the backend returned, or the host code for the other kinds.
    public var code: UInt32
    public var message: String

    public init(kind: Kind, backend: String, operation: String, code: UInt32, message: String) {
        self.kind = kind
        self.backend = backend
        self.operation = operation
        self.code = code
        self.message = message
    }

    /// The error as a CNI error for the caller's result: the backend's own
    /// code for `.backendError`, the matching HYDRA_HOST_ERR_* code otherwise.
    public var cniError: CNIError {
        switch kind {
        case .backendError:
            return CNIError(code: UInt(code), msg: description)
        case .unknownErrorCode:
            return CNIError(code: UInt(HYDRA_HOST_ERR_UNKNOWN_ERROR_CODE), msg: description)
        case .invalidResult:
            return CNIError(code: UInt(HYDRA_HOST_ERR_INVALID_RESULT), msg: description)
        case .deadlineExceeded:
            return CNIError(code: UInt(HYDRA_HOST_ERR_DEADLINE_EXCEEDED), msg: description)
        case .notSupported:
            return CNIError(code: CNIError.internalError, msg: description)
        }
    }

    public var description: String {
        switch kind {
        case .backendError:
            return "backend \"\(backend)\" \(operation) failed: \(message) (code \(code))"
        case .unknownErrorCode:
            return "backend \"\(backend)\" \(operation) failed with unknown error code \(code): \(message)"
        case .invalidResult:
            return "backend \"\(backend)\" \(operation) returned an invalid result: \(message)"
        case .deadlineExceeded:
            return "backend \"\(backend)\" \(operation) timed out: \(message)"
        case .notSupported:
            return "backend \"\(backend)\" does not support \(operation)"
        }
    }

    /// Whether `code` is one a backend may return: the CNI reserved codes
    /// listed in hydra_backend.h, or 100...999.
    static func isAllowedBackendCode(_ code: UInt32) -> Bool {
        let reserved: Set<UInt32> = [1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51]
        return reserved.contains(code)
            || (UInt32(HYDRA_ERR_BACKEND_FIRST)...UInt32(HYDRA_ERR_BACKEND_LAST)).contains(code)
    }
}
