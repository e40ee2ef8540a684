import CNI
import Foundation

/// The error that fails a pod's RunPodSandbox because of its network request:
/// one message naming the pod, each offending element and what is wrong.
public struct SelectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `namespace/name` of the pod.
    public var pod: String
    /// The selection annotation's key.
    public var annotation: String
    public var problems: [SelectionProblem]

    public var description: String {
        let details = problems.map(\.description).joined(separator: "; ")
        return "pod \"\(pod)\": invalid network selection in annotation \"\(annotation)\": \(details)"
    }
}

/// Decides which networks a pod gets, in attach order: the local networks
/// whose default rule matches, in configuration order, then the elements of
/// the selection annotation, in annotation order. It only reads, so the
/// `hydra explain` command runs the same code as RunPodSandbox.
public struct AttachmentPlanner: Sendable {
    public var configuration: HydraConfiguration
    /// NetworkAttachmentDefinition lookups; nil when Kubernetes access is off.
    public var definitions: (any NetworkDefinitionSource)?

    public init(configuration: HydraConfiguration, definitions: (any NetworkDefinitionSource)?) {
        self.configuration = configuration
        self.definitions = definitions
    }

    /// Returns the attachments for a pod, or throws a `SelectionError`.
    ///
    /// A pod without a network namespace (host network) that requests
    /// networks in its annotation fails. Default rules never apply to such a
    /// pod, so a rule for every namespace does not fail host-network pods.
    public func plan(namespace: String, name: String, labels: [String: String],
                     annotations: [String: String], hasNetworkNamespace: Bool) async throws -> [PlannedAttachment] {
        let key = configuration.annotations.selection
        func failure(_ problems: [SelectionProblem]) -> SelectionError {
            SelectionError(pod: "\(namespace)/\(name)", annotation: key, problems: problems)
        }

        var elements: [NetworkSelectionElement] = []
        if let value = annotations[key] {
            switch SelectionAnnotationParser.parse(value) {
            case .success(let parsed): elements = parsed
            case .failure(let errors): throw failure(errors.problems)
            }
        }
        if !hasNetworkNamespace {
            guard elements.isEmpty else {
                throw failure([SelectionProblem(position: 0, element: "",
                                                message: "the pod has no network namespace (host network), so it cannot get the \(elements.count) requested network(s)")])
            }
            return []
        }

        var plans: [PlannedAttachment] = []
        for network in configuration.networks {
            guard let rule = network.defaultRule, rule.matches(namespace: namespace, podLabels: labels) else { continue }
            plans.append(PlannedAttachment(network: network.name, definitionNamespace: nil, interface: network.interface ?? "",
                                           config: network.config, origin: .defaultRule))
        }

        var problems: [SelectionProblem] = []
        for (index, element) in elements.enumerated() {
            let position = index + 1
            let label = element.namespace.map { "\($0)/\(element.name)" } ?? element.name
            do {
                plans.append(try await resolve(element, position: position, podNamespace: namespace))
            } catch let message as ResolutionFailure {
                problems.append(SelectionProblem(position: position, element: label, message: message.text))
            }
        }
        problems.append(contentsOf: assignInterfaces(&plans))
        guard problems.isEmpty else { throw failure(problems) }
        return plans
    }

    private struct ResolutionFailure: Error {
        var text: String
    }

    /// Resolves one element. Without a namespace, a local network of that
    /// name wins over a NetworkAttachmentDefinition in the pod's namespace.
    /// With a namespace, the isolation policy is checked first, then the
    /// NetworkAttachmentDefinition there is used, then a local network.
    private func resolve(_ element: NetworkSelectionElement, position: Int,
                         podNamespace: String) async throws -> PlannedAttachment {
        let target = element.namespace ?? podNamespace
        if !configuration.isolation.allows(podNamespace: podNamespace, target: target) {
            let allowed = ([podNamespace] + configuration.isolation.allowedNamespaces).map { "\"\($0)\"" }.joined(separator: ", ")
            throw ResolutionFailure(text: "namespace isolation forbids networks from namespace \"\(target)\"; allowed namespaces: \(allowed)")
        }

        var network: String
        var definitionNamespace: String?
        var config: JSONValue
        var interface = element.interface
        if element.namespace == nil, let local = configuration.network(named: element.name) {
            (network, config) = (local.name, local.config)
            interface = interface ?? local.interface
        } else if let found = try await lookUpDefinition(namespace: target, name: element.name) {
            (network, definitionNamespace, config) = (found.name, found.namespace, found.config)
        } else if let local = configuration.network(named: element.name) {
            (network, config) = (local.name, local.config)
            interface = interface ?? local.interface
        } else {
            let reason = definitions == nil
                ? "no local network has this name and Kubernetes access is disabled"
                : "no local network and no NetworkAttachmentDefinition \"\(target)/\(element.name)\" exist"
            throw ResolutionFailure(text: "network \"\(element.name)\" not found: \(reason)")
        }

        if let cniArgs = element.cniArgs {
            config = Self.mergeCNIArgs(cniArgs, into: config)
        }
        return PlannedAttachment(network: network, definitionNamespace: definitionNamespace, interface: interface ?? "",
                                 config: config, runtimeConfig: element.runtimeConfig,
                                 defaultRoute: element.defaultRoute, origin: .annotation(position: position))
    }

    /// Fetches and validates a NetworkAttachmentDefinition's configuration.
    /// A configuration without `name` gets the object's name.
    private func lookUpDefinition(namespace: String, name: String) async throws
        -> (namespace: String, name: String, config: JSONValue)?
    {
        guard let definitions else { return nil }
        let found: NetworkAttachmentDefinition?
        let timeout = configuration.kubernetes.lookupTimeoutMilliseconds
        do {
            found = try await Self.withTimeout(milliseconds: timeout) {
                try await definitions.networkAttachmentDefinition(namespace: namespace, name: name)
            }
        } catch is LookupTimeout {
            throw ResolutionFailure(text: "timed out after \(timeout) ms looking up NetworkAttachmentDefinition \"\(namespace)/\(name)\"; the API server may be unreachable")
        } catch {
            throw ResolutionFailure(text: "failed to look up NetworkAttachmentDefinition \"\(namespace)/\(name)\": \(error)")
        }
        guard let found else { return nil }
        var config: JSONValue
        do {
            config = try JSONValue(parsing: found.config)
        } catch {
            throw ResolutionFailure(text: "NetworkAttachmentDefinition \"\(namespace)/\(name)\" has an invalid spec.config: \(error)")
        }
        var reader = FieldReader()
        config = HydraConfiguration.validateNetworkConfig(config, at: "spec.config", reader: &reader)
        if !reader.problems.isEmpty {
            let details = reader.problems.map(\.description).joined(separator: "; ")
            throw ResolutionFailure(text: "NetworkAttachmentDefinition \"\(namespace)/\(name)\" has an invalid spec.config: \(details)")
        }
        if config["name"] == nil { config["name"] = .string(found.name) }
        return (found.namespace, found.name, config)
    }

    private struct LookupTimeout: Error {}

    /// Runs `body`, giving up after `milliseconds` with `LookupTimeout`. The
    /// cache is expected to bound its own wait; this keeps a slow
    /// implementation from holding up the runtime.
    private static func withTimeout<T: Sendable>(milliseconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(milliseconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw LookupTimeout() }
            return value
        }
    }

    /// Returns the attachments a pod in `namespace` with `labels` and the
    /// selection annotation `annotation` (nil when absent) would get, or
    /// throws the `SelectionError` RunPodSandbox would fail with. The
    /// `hydra explain` command calls this.
    public func explain(namespace: String, name: String = "(explain)", labels: [String: String],
                        annotation: String?, hostNetwork: Bool = false) async throws -> [PlannedAttachment] {
        let annotations = annotation.map { [configuration.annotations.selection: $0] } ?? [:]
        return try await plan(namespace: namespace, name: name, labels: labels, annotations: annotations,
                              hasNetworkNamespace: !hostNetwork)
    }

    /// Merges `cni-args` into `args.cni` of a single plugin, or of every
    /// plugin of a plugin list, keeping keys the configuration already has
    /// unless the element sets them.
    static func mergeCNIArgs(_ cniArgs: [String: JSONValue], into config: JSONValue) -> JSONValue {
        func merge(_ plugin: JSONValue) -> JSONValue {
            var plugin = plugin
            var args = plugin["args"] ?? .object([:])
            var cni = args["cni"]?.objectValue ?? [:]
            cni.merge(cniArgs) { _, new in new }
            args["cni"] = .object(cni)
            plugin["args"] = args
            return plugin
        }
        guard let plugins = config["plugins"]?.arrayValue else { return merge(config) }
        var result = config
        result["plugins"] = .array(plugins.map(merge))
        return result
    }

    /// Names unnamed interfaces `net1`, `net2`, … in order, skipping names
    /// already used in the pod, and reports a duplicate name.
    private func assignInterfaces(_ plans: inout [PlannedAttachment]) -> [SelectionProblem] {
        var problems: [SelectionProblem] = []
        var used: [String: String] = [configuration.annotations.defaultInterface: "the default network"]
        for plan in plans where !plan.interface.isEmpty {
            let owner = Self.describe(plan)
            if let first = used[plan.interface] {
                let position: Int
                if case .annotation(let index) = plan.origin { position = index } else { position = 0 }
                problems.append(SelectionProblem(position: position, element: plan.statusName,
                                                 message: "\(position == 0 ? "\(owner): " : "")interface \"\(plan.interface)\" is already used by \(first)"))
            } else {
                used[plan.interface] = owner
            }
        }
        var counter = 1
        for index in plans.indices where plans[index].interface.isEmpty {
            while used["net\(counter)"] != nil { counter += 1 }
            plans[index].interface = "net\(counter)"
            used["net\(counter)"] = Self.describe(plans[index])
        }
        return problems
    }

    private static func describe(_ plan: PlannedAttachment) -> String {
        switch plan.origin {
        case .defaultRule: return "default network \"\(plan.network)\""
        case .annotation(let position): return "element \(position)"
        }
    }
}
