import CNI

/// Failures of the flannel backend that are not etcd or netlink errors.
public enum FlannelError: Error, CustomStringConvertible, Sendable {
    /// `<prefix>/config` is missing or invalid.
    case invalidNetworkConfig(String)
    /// The backend's own configuration (from the host configuration file) is invalid.
    case invalidBackendConfig(String)
    /// No subnet lease is held yet, so nothing can be attached.
    case noLease(String)
    /// Every subnet between SubnetMin and SubnetMax is leased.
    case networkFull(String)
    /// The public interface or address could not be determined.
    case publicInterface(String)

    public var description: String {
        switch self {
        case .invalidNetworkConfig(let detail): return "invalid flannel network config: \(detail)"
        case .invalidBackendConfig(let detail): return "invalid flannel backend configuration: \(detail)"
        case .noLease(let detail): return "no flannel subnet lease held yet: \(detail)"
        case .networkFull(let detail): return "no free flannel subnet: \(detail)"
        case .publicInterface(let detail): return "cannot determine the public interface: \(detail)"
        }
    }

    /// The error as a CNI error for the backend ABI.
    var cniError: CNIError {
        switch self {
        case .noLease: return CNIError(code: CNIError.tryAgainLater, msg: description)
        case .invalidBackendConfig, .invalidNetworkConfig: return CNIError(code: CNIError.invalidNetworkConfig, msg: description)
        default: return CNIError(code: CNIError.internalError, msg: description)
        }
    }
}
