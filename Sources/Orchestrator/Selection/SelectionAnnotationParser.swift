import Foundation
import CNI

/// Parses the value of a pod's selection annotation, in either form the
/// Network Plumbing Working Group specification allows: a JSON list of
/// objects (the value starts with `[`), or comma-separated
/// `[namespace/]name[@interface]`. An empty or blank value selects nothing.
public enum SelectionAnnotationParser {
    /// Keys of the JSON form that Hydra accepts. Any other key is an error,
    /// because silently dropping a request could attach the wrong network.
    public static let jsonKeys = ["name", "namespace", "interface", "ips", "mac", "default-route",
                                  "cni-args", "portMappings", "bandwidth", "infiniband-guid"]

    /// Returns the elements in annotation order, or every problem found.
    public static func parse(_ value: String) -> Result<[NetworkSelectionElement], SelectionErrors> {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return .success([]) }
        var problems: [SelectionProblem] = []
        let elements = trimmed.hasPrefix("[") ? parseJSON(trimmed, problems: &problems) : parseShort(trimmed, problems: &problems)
        problems.append(contentsOf: checkAcrossElements(elements))
        return problems.isEmpty ? .success(elements.map(\.element)) : .failure(SelectionErrors(problems: problems))
    }

    typealias Positioned = (position: Int, label: String, element: NetworkSelectionElement)

    private static func parseShort(_ text: String, problems: inout [SelectionProblem]) -> [Positioned] {
        var elements: [Positioned] = []
        for (index, part) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let position = index + 1
            let item = part.trimmingCharacters(in: .whitespaces)
            func fail(_ message: String) { problems.append(SelectionProblem(position: position, element: item, message: message)) }

            if item.isEmpty {
                fail("empty network name (stray comma?)")
                continue
            }
            var rest = Substring(item)
            var namespace: String?
            var interface: String?
            let slashes = rest.filter { $0 == "/" }.count
            let ats = rest.filter { $0 == "@" }.count
            if slashes > 1 || ats > 1 {
                fail("expected [namespace/]name[@interface] with at most one '/' and one '@'")
                continue
            }
            if let at = rest.firstIndex(of: "@") {
                interface = String(rest[rest.index(after: at)...])
                rest = rest[..<at]
            }
            if let slash = rest.firstIndex(of: "/") {
                namespace = String(rest[..<slash])
                rest = rest[rest.index(after: slash)...]
            }
            let element = NetworkSelectionElement(name: String(rest), namespace: namespace, interface: interface)
            problems.append(contentsOf: checkFields(element, position: position, label: item))
            elements.append((position, item, element))
        }
        return elements
    }

    private static func parseJSON(_ text: String, problems: inout [SelectionProblem]) -> [Positioned] {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: text)
        } catch {
            problems.append(SelectionProblem(position: 0, element: "", message: "malformed JSON: \(error)"))
            return []
        }
        guard let list = document.arrayValue else {
            problems.append(SelectionProblem(position: 0, element: "", message: "expected a JSON list of objects"))
            return []
        }
        var elements: [Positioned] = []
        for (index, entry) in list.enumerated() {
            let position = index + 1
            let label = entry["name"]?.stringValue ?? entry.encodedString()
            var local: [SelectionProblem] = []
            func fail(_ message: String) { local.append(SelectionProblem(position: position, element: label, message: message)) }

            guard let members = entry.objectValue else {
                fail("expected an object, found \(FieldReader.kind(of: entry))")
                problems.append(contentsOf: local)
                continue
            }
            for key in members.keys.sorted() where !jsonKeys.contains(key) {
                fail("unknown key \"\(key)\"; accepted keys: \(jsonKeys.joined(separator: ", "))")
            }
            func string(_ key: String) -> String? {
                guard let value = members[key] else { return nil }
                guard let text = value.stringValue else {
                    fail("\"\(key)\" must be a string, found \(FieldReader.kind(of: value))")
                    return nil
                }
                return text
            }
            func strings(_ key: String) -> [String] {
                guard let value = members[key] else { return [] }
                guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    fail("\"\(key)\" must be a list of strings, found \(value)")
                    return []
                }
                return list.compactMap(\.stringValue)
            }

            var element = NetworkSelectionElement(name: "")
            if members["name"] == nil {
                fail("missing \"name\"")
            }
            element.name = string("name") ?? ""
            element.namespace = string("namespace")
            element.interface = string("interface")
            element.ips = strings("ips")
            element.mac = string("mac")
            element.defaultRoute = strings("default-route")
            element.infinibandGUID = string("infiniband-guid")
            if let args = members["cni-args"] {
                if let object = args.objectValue { element.cniArgs = object } else { fail("\"cni-args\" must be an object, found \(FieldReader.kind(of: args))") }
            }
            if let mappings = members["portMappings"] {
                if let list = mappings.arrayValue, list.allSatisfy({ $0.objectValue != nil }) {
                    element.portMappings = mappings
                } else {
                    fail("\"portMappings\" must be a list of objects, found \(mappings)")
                }
            }
            if let bandwidth = members["bandwidth"] {
                if bandwidth.objectValue != nil { element.bandwidth = bandwidth } else { fail("\"bandwidth\" must be an object, found \(FieldReader.kind(of: bandwidth))") }
            }
            local.append(contentsOf: checkFields(element, position: position, label: label, skipEmptyName: members["name"]?.stringValue == nil))
            problems.append(contentsOf: local)
            elements.append((position, label, element))
        }
        return elements
    }

    /// Checks the syntax of the fields of one element.
    private static func checkFields(_ element: NetworkSelectionElement, position: Int, label: String,
                                    skipEmptyName: Bool = false) -> [SelectionProblem] {
        var problems: [SelectionProblem] = []
        func fail(_ message: String) { problems.append(SelectionProblem(position: position, element: label, message: message)) }

        if element.name.isEmpty {
            if !skipEmptyName { fail("empty network name") }
        } else if let problem = NameRules.networkNameProblem(element.name) {
            fail("network name \"\(element.name)\" is invalid: \(problem)")
        }
        if let namespace = element.namespace {
            if namespace.isEmpty {
                fail("empty namespace")
            } else if let problem = NameRules.namespaceProblem(namespace) {
                fail("namespace \"\(namespace)\" is invalid: \(problem)")
            }
        }
        if let interface = element.interface, let problem = NameRules.interfaceNameProblem(interface) {
            fail("interface name \"\(interface)\" is invalid: \(problem)")
        }
        for ip in element.ips where !NameRules.isIPAddressOrCIDR(ip) {
            fail("\"ips\" entry \"\(ip)\" is not a valid IP address (expected for example 10.1.1.5/24 or fd00::5)")
        }
        if let mac = element.mac, !NameRules.isMACAddress(mac) {
            fail("\"mac\" \"\(mac)\" is not a valid MAC address (expected six hex pairs, for example 02:42:ac:11:00:02)")
        }
        for gateway in element.defaultRoute where !NameRules.isIPAddress(gateway) {
            fail("\"default-route\" entry \"\(gateway)\" is not a valid gateway IP address")
        }
        return problems
    }

    /// Checks the rules that span elements: interface names are unique and
    /// at most one element sets `default-route`.
    private static func checkAcrossElements(_ elements: [Positioned]) -> [SelectionProblem] {
        var problems: [SelectionProblem] = []
        var interfaces: [String: Int] = [:]
        for (position, label, element) in elements {
            guard let interface = element.interface, !interface.isEmpty else { continue }
            if let first = interfaces[interface] {
                problems.append(SelectionProblem(position: position, element: label,
                                                 message: "interface \"\(interface)\" is already used by element \(first)"))
            } else {
                interfaces[interface] = position
            }
        }
        let routed = elements.filter { !$0.element.defaultRoute.isEmpty }
        if routed.count > 1 {
            let positions = routed.map { String($0.position) }.joined(separator: ", ")
            for (position, label, _) in routed.dropFirst() {
                problems.append(SelectionProblem(position: position, element: label,
                                                 message: "\"default-route\" is set on more than one element (elements \(positions)); a pod has one default route"))
            }
        }
        return problems
    }
}

/// Every problem found in a selection annotation.
public struct SelectionErrors: Error, Sendable, Equatable {
    public var problems: [SelectionProblem]
}
