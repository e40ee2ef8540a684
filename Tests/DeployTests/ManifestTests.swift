import Foundation
import Orchestrator
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

func readRepositoryFile(_ relativePath: String) throws -> String {
    try String(contentsOfFile: repositoryRoot + "/" + relativePath, encoding: .utf8)
}

/// Every document of a manifest file under deploy/.
func manifests(_ relativePath: String) throws -> [YAMLNode] {
    try YAMLSubsetParser.documents(try readRepositoryFile("deploy/" + relativePath))
}

func manifest(_ relativePath: String, kind: String) throws -> YAMLNode {
    let found = try manifests(relativePath).filter { $0["kind"]?.string == kind }
    guard found.count == 1 else {
        throw YAMLError(description: "\(relativePath): expected one \(kind), found \(found.count)")
    }
    return found[0]
}

/// The host paths Hydra needs: the NRI socket directory, pods' network
/// namespaces, its state, the CNI state and binaries, the flannel subnet
/// file and the iptables lock shared with the host's other users.
let requiredHostPaths = ["/var/run/nri", "/var/run/netns", "/var/lib/hydra", "/var/lib/cni", "/opt/cni/bin",
                         "/run/hydra/flannel", "/run/xtables.lock"]

@Suite struct DaemonSetTests {
    let daemonSet: YAMLNode
    let pod: YAMLNode
    let container: YAMLNode

    init() throws {
        daemonSet = try manifest("base/daemonset.yaml", kind: "DaemonSet")
        pod = try #require(daemonSet["spec"]?["template"]?["spec"])
        container = try #require(pod["containers"]?[0])
    }

    @Test func hostNetworkAndPrivileged() {
        #expect(daemonSet["apiVersion"]?.string == "apps/v1")
        #expect(pod["hostNetwork"]?.bool == true)
        #expect(container["securityContext"]?["privileged"]?.bool == true)
        #expect(pod["serviceAccountName"]?.string == "hydra")
    }

    @Test func mountsEveryRequiredHostPath() throws {
        var volumeForPath: [String: String] = [:]
        for volume in pod["volumes"]?.items ?? [] {
            if let path = volume["hostPath"]?["path"]?.string, let name = volume["name"]?.string {
                volumeForPath[path] = name
            }
        }
        let mounts = container["volumeMounts"]?.items ?? []
        for path in requiredHostPaths {
            let volume = try #require(volumeForPath[path], "no hostPath volume for \(path)")
            let mount = mounts.first { $0["name"]?.string == volume }
            #expect(mount?["mountPath"]?.string == path, "hostPath \(path) is not mounted at the same path")
        }
    }

    @Test func netnsMountIsBidirectional() throws {
        let volume = try #require(pod["volumes"]?.items.first { $0["hostPath"]?["path"]?.string == "/var/run/netns" })
        let mount = try #require(container["volumeMounts"]?.items.first { $0["name"] == volume["name"] })
        #expect(mount["mountPropagation"]?.string == "Bidirectional")
        let others = (container["volumeMounts"]?.items ?? []).filter { $0["name"] != volume["name"] }
        #expect(others.allSatisfy { $0["mountPropagation"] == nil }, "only the netns mount needs propagation")
    }

    @Test func xtablesLockIsAFile() throws {
        let volume = try #require(pod["volumes"]?.items.first { $0["hostPath"]?["path"]?.string == "/run/xtables.lock" })
        #expect(volume["hostPath"]?["type"]?.string == "FileOrCreate")
    }

    @Test func configMountMatchesArguments() throws {
        let arguments = container["args"]?.items.compactMap(\.string) ?? []
        let flag = try #require(arguments.firstIndex(of: "--config"))
        let configPath = try #require(arguments.dropFirst(flag + 1).first)
        let configVolume = try #require(pod["volumes"]?.items.first { $0["configMap"]?["name"]?.string == "hydra-config" })
        let mount = try #require(container["volumeMounts"]?.items.first { $0["name"] == configVolume["name"] })
        let mountPath = try #require(mount["mountPath"]?.string)
        #expect(configPath == mountPath + "/config.json")
        #expect(arguments.first == "run")
    }

    @Test func probesUseTheMetricsPort() throws {
        let configuration = try baseConfiguration()
        let port = try #require(configuration.metrics.listen.split(separator: ":").last.map(String.init))
        #expect(container["livenessProbe"]?["httpGet"]?["path"]?.string == "/healthz")
        #expect(container["livenessProbe"]?["httpGet"]?["port"]?.string == port)
        #expect(container["readinessProbe"]?["httpGet"]?["path"]?.string == "/readyz")
        #expect(container["readinessProbe"]?["httpGet"]?["port"]?.string == port)
        // The kubelet probes the node address, so a loopback listener would fail every probe.
        #expect(!configuration.metrics.listen.hasPrefix("127."))
    }

    @Test func stateAndSocketPathsMatchConfiguration() throws {
        let configuration = try baseConfiguration()
        let hostPaths = (pod["volumes"]?.items ?? []).compactMap { $0["hostPath"]?["path"]?.string }
        #expect(hostPaths.contains(configuration.stateDir))
        let socketDirectory = (configuration.nri.socket as NSString).deletingLastPathComponent
        #expect(hostPaths.contains(socketDirectory))
        #expect(configuration.backends.dir == "/usr/lib/hydra/backends")
    }
}

@Suite struct RBACTests {
    struct Rule: Hashable {
        var group: String
        var resource: String
        var verbs: [String]
    }

    @Test func clusterRoleIsLeastPrivilege() throws {
        let role = try manifest("base/clusterrole.yaml", kind: "ClusterRole")
        var rules: Set<Rule> = []
        for rule in role["rules"]?.items ?? [] {
            #expect(rule["resourceNames"] == nil)
            #expect(rule["nonResourceURLs"] == nil)
            for group in rule["apiGroups"]?.items.compactMap(\.string) ?? [] {
                for resource in rule["resources"]?.items.compactMap(\.string) ?? [] {
                    let verbs = (rule["verbs"]?.items.compactMap(\.string) ?? []).sorted()
                    rules.insert(Rule(group: group, resource: resource, verbs: verbs))
                }
            }
        }
        let expected: Set<Rule> = [
            Rule(group: "", resource: "pods", verbs: ["get", "patch"]),
            Rule(group: "", resource: "events", verbs: ["create"]),
            Rule(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verbs: ["get", "list", "watch"]),
        ]
        #expect(rules == expected)
    }

    @Test func bindingGrantsTheRoleToTheServiceAccount() throws {
        let binding = try manifest("base/clusterrolebinding.yaml", kind: "ClusterRoleBinding")
        let account = try manifest("base/serviceaccount.yaml", kind: "ServiceAccount")
        #expect(binding["roleRef"]?["kind"]?.string == "ClusterRole")
        #expect(binding["roleRef"]?["name"]?.string == "hydra")
        let subject = try #require(binding["subjects"]?[0])
        #expect(binding["subjects"]?.items.count == 1)
        #expect(subject["kind"]?.string == "ServiceAccount")
        #expect(subject["name"] == account["metadata"]?["name"])
        #expect(subject["namespace"] == account["metadata"]?["namespace"])
    }
}

/// The configuration of the base ConfigMap, parsed by Hydra's own parser.
func baseConfiguration() throws -> HydraConfiguration {
    try configuration(inConfigMap: "base/configmap.yaml")
}

func configuration(inConfigMap path: String) throws -> HydraConfiguration {
    let configMap = try manifest(path, kind: "ConfigMap")
    #expect(configMap["metadata"]?["name"]?.string == "hydra-config")
    let text = try #require(configMap["data"]?["config.json"]?.string, "\(path) has no data.config.json")
    return try HydraConfiguration(parsing: text, source: path)
}
