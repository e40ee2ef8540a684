import CNI
import Netlink

/// Conversions from the address strings of CNI results to Netlink's types,
/// failing with a `CNIError` that names the invalid value.
public enum CNIAddresses {
    /// Parses "10.1.0.5/24" (an interface address keeps its host bits).
    public static func network(_ text: String, field: String) throws(CNIError) -> IPNetwork {
        guard let network = IPNetwork(text) else {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid CIDR address \"\(text)\" in \(field)")
        }
        return network
    }

    /// Parses an address without prefix length.
    public static func address(_ text: String, field: String) throws(CNIError) -> IPAddress {
        guard let address = IPAddress(text) else {
            throw CNIError(code: CNIError.decodingFailure, msg: "invalid IP address \"\(text)\" in \(field)")
        }
        return address
    }

    /// Parses a MAC address given in a configuration or runtime config.
    public static func mac(_ text: String, field: String) throws(CNIError) -> MACAddress {
        guard let mac = MACAddress(text) else {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: "invalid MAC address \"\(text)\" in \(field)")
        }
        return mac
    }
}

/// Wraps a lower-level error in a `CNIError` with code 999 (internal error),
/// keeping its description as the message. A `CNIError` passes through unchanged.
public func cniError(_ error: any Error) -> CNIError {
    if let error = error as? CNIError { return error }
    return CNIError(code: CNIError.internalError, msg: "\(error)")
}
