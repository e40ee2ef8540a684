import BackendHost
import CNI
import CNIExec

/// A failure of one plugin of a chain, naming its position, type and the
/// command, around the executor's or the backend's error.
public struct ChainStepError: Error, Sendable, CustomStringConvertible {
    public var network: String
    /// The plugin's position in the list, from 0.
    public var index: Int
    public var type: String
    /// "ADD", "DEL", "CHECK", "GC", "STATUS" or "VERSION".
    public var command: String
    public var underlying: any Error

    /// The error as a CNI error: the plugin's own code and message when it
    /// printed a CNI error, the executor's or backend's mapping otherwise.
    public var cniError: CNIError {
        var error: CNIError
        switch underlying {
        case let execError as CNIExecError: error = execError.cniError
        case let callError as BackendCallError: error = callError.cniError
        case let cniError as CNIError: error = cniError
        default: error = CNIError(code: CNIError.internalError, msg: "\(underlying)")
        }
        error.msg = "network \"\(network)\": plugin \(index) (\(type)) \(command) failed: \(error.msg)"
        return error
    }

    public var description: String {
        "network \"\(network)\": plugin \(index) (\(type)) \(command) failed: \(underlying)"
    }
}
