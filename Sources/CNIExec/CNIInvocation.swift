import Foundation

/// One run of a CNI plugin binary: the command, the plugin, its stdin and
/// the CNI_* environment, as the CNI specification defines them.
public struct CNIInvocation: Sendable, Equatable {
    /// CNI_COMMAND: "ADD", "DEL", "CHECK", "VERSION", "GC" or "STATUS".
    public var command: String
    /// Plugin binary name (the config's `type`), looked up in the executor's directories.
    public var pluginType: String
    /// The network configuration written to the plugin's stdin.
    public var stdinData: Data
    /// CNI_CONTAINERID.
    public var containerID: String
    /// CNI_NETNS.
    public var netns: String
    /// CNI_IFNAME.
    public var ifName: String
    /// CNI_ARGS key/value pairs, in order, written as "K1=V1;K2=V2".
    public var args: [(key: String, value: String)]

    public init(command: String, pluginType: String, stdinData: Data, containerID: String = "",
                netns: String = "", ifName: String = "", args: [(key: String, value: String)] = []) {
        self.command = command
        self.pluginType = pluginType
        self.stdinData = stdinData
        self.containerID = containerID
        self.netns = netns
        self.ifName = ifName
        self.args = args
    }

    /// Log fields naming the pod and sandbox of this run: `pod` as
    /// namespace/name from the `K8S_POD_NAMESPACE` and `K8S_POD_NAME` args,
    /// when both are present, and `sandbox` from CNI_CONTAINERID, which
    /// Hydra sets to the pod sandbox id.
    public var podLogFields: [(String, String)] {
        var fields: [(String, String)] = []
        let namespace = args.last { $0.key == "K8S_POD_NAMESPACE" }?.value
        let name = args.last { $0.key == "K8S_POD_NAME" }?.value
        if let namespace, let name { fields.append(("pod", "\(namespace)/\(name)")) }
        if !containerID.isEmpty { fields.append(("sandbox", containerID)) }
        return fields
    }

    /// CNI_ARGS as the specification writes it: `key=value` pairs joined by ";".
    public var cniArgs: String {
        args.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }

    public static func == (lhs: CNIInvocation, rhs: CNIInvocation) -> Bool {
        lhs.command == rhs.command && lhs.pluginType == rhs.pluginType && lhs.stdinData == rhs.stdinData
            && lhs.containerID == rhs.containerID && lhs.netns == rhs.netns && lhs.ifName == rhs.ifName
            && lhs.args.elementsEqual(rhs.args, by: { $0.key == $1.key && $0.value == $1.value })
    }
}
