import Foundation
import CNI

/// Builds the `CNIError`s that the native IPAM plugins throw. Messages follow
/// the reference plugins' wording so logs read the same whichever ran.
enum CNIErrorFactory {
    /// Returns the error for an invalid network configuration or CNI_ARGS (code 7).
    static func invalidConfig(_ message: String) -> CNIError {
        CNIError(code: CNIError.invalidNetworkConfig, msg: message)
    }

    /// Returns the error for a failed file operation on the IPAM data directory (code 5).
    static func ioFailure(_ message: String, errno code: Int32) -> CNIError {
        CNIError(code: CNIError.ioFailure, msg: message, details: String(cString: strerror(code)))
    }

    /// Returns the error for a failure the specification reserves no code for,
    /// such as an exhausted range (code 999).
    static func failed(_ message: String) -> CNIError {
        CNIError(code: CNIError.internalError, msg: message)
    }
}
