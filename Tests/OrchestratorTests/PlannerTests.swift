import CNI
import Testing
@testable import Orchestrator

@Suite struct PlannerTests {
    func configuration(isolation: IsolationSettings = IsolationSettings()) -> HydraConfiguration {
        var config = HydraConfiguration()
        config.networks = [
            NetworkDefinition(name: "everywhere", interface: "hydra", defaultRule: DefaultRule(), config: bridgeConfig("everywhere")),
            NetworkDefinition(name: "labelled", defaultRule: DefaultRule(namespaces: ["team-a"], labels: ["fast": "yes"]),
                              config: bridgeConfig("labelled")),
            NetworkDefinition(name: "storage", config: bridgeConfig("storage")),
        ]
        config.isolation = isolation
        return config
    }

    let definitions = FakeDefinitions([
        NetworkAttachmentDefinition(namespace: "team-a", name: "macvlan-conf",
                                    config: #"{"cniVersion": "1.0.0", "type": "macvlan", "master": "eth9", "mtu": 1500}"#),
        NetworkAttachmentDefinition(namespace: "shared", name: "sriov", config: #"{"cniVersion": "1.0.0", "name": "sriov-net", "type": "sriov"}"#),
        NetworkAttachmentDefinition(namespace: "team-a", name: "broken", config: #"{"type": "#),
        NetworkAttachmentDefinition(namespace: "team-a", name: "typeless", config: #"{"cniVersion": "1.0.0"}"#),
    ])

    func plan(_ annotation: String?, namespace: String = "team-a", labels: [String: String] = [:],
              hostNetwork: Bool = false, isolation: IsolationSettings = IsolationSettings(),
              definitions: (any NetworkDefinitionSource)? = nil) async throws -> [PlannedAttachment] {
        let planner = AttachmentPlanner(configuration: configuration(isolation: isolation), definitions: definitions ?? self.definitions)
        let annotations = annotation.map { ["k8s.v1.cni.cncf.io/networks": $0] } ?? [:]
        return try await planner.plan(namespace: namespace, name: "web", labels: labels, annotations: annotations,
                                      hasNetworkNamespace: !hostNetwork)
    }

    func failure(_ annotation: String?, hostNetwork: Bool = false, isolation: IsolationSettings = IsolationSettings(),
                 definitions: (any NetworkDefinitionSource)? = nil) async -> SelectionError? {
        do {
            _ = try await plan(annotation, hostNetwork: hostNetwork, isolation: isolation, definitions: definitions)
            return nil
        } catch {
            return error as? SelectionError
        }
    }

    @Test func defaultRulesMatch() async throws {
        #expect(try await plan(nil, namespace: "other").map(\.network) == ["everywhere"])
        #expect(try await plan(nil, labels: ["fast": "yes"]).map(\.network) == ["everywhere", "labelled"])
        #expect(try await plan(nil, labels: ["fast": "no"]).map(\.network) == ["everywhere"])
    }

    @Test func unnamedInterfacesNumberedSkippingUsed() async throws {
        let plans = try await plan("storage@net1, storage, macvlan-conf, storage@net3, storage", labels: ["fast": "yes"])
        #expect(plans.map(\.interface) == ["hydra", "net2", "net1", "net4", "net5", "net3", "net6"])
        #expect(plans.map(\.network) == ["everywhere", "labelled", "storage", "storage", "macvlan-conf", "storage", "storage"])
    }

    @Test func localAndDefinitionResolution() async throws {
        let plans = try await plan("storage, macvlan-conf@eth7, shared/sriov")
        #expect(plans.count == 4)
        #expect(plans[1].network == "storage")
        #expect(plans[1].definitionNamespace == nil)
        #expect(plans[1].statusName == "storage")
        #expect(plans[2].network == "macvlan-conf")
        #expect(plans[2].definitionNamespace == "team-a")
        #expect(plans[2].statusName == "team-a/macvlan-conf")
        #expect(plans[2].interface == "eth7")
        #expect(plans[2].config["name"] == "macvlan-conf", "a spec.config without name gets the object's name")
        #expect(plans[2].config["mtu"] == .integer(1500))
        #expect(plans[3].config["name"] == "sriov-net", "an explicit name is kept")
        #expect(plans[3].origin == .annotation(position: 3))
    }

    @Test func cniArgsAndRuntimeConfigCarried() async throws {
        let text = #"[{"name": "storage", "ips": ["10.9.9.9/24"], "mac": "02:00:00:00:00:09", "default-route": ["10.9.9.1"], "cni-args": {"a": "b"}}]"#
        let plans = try await plan(text)
        #expect(plans[1].config["args"]?["cni"] == ["a": "b"])
        #expect(plans[1].runtimeConfig == ["ips": ["10.9.9.9/24"], "mac": "02:00:00:00:00:09"])
        #expect(plans[1].defaultRoute == ["10.9.9.1"])
    }

    @Test func cniArgsMergedIntoEveryPlugin() {
        let list: JSONValue = ["cniVersion": "1.0.0", "plugins": [["type": "bridge", "args": ["cni": ["keep": 1]]], ["type": "tuning"]]]
        let merged = AttachmentPlanner.mergeCNIArgs(["x": "y"], into: list)
        #expect(merged["plugins"]?[0]?["args"]?["cni"] == ["keep": 1, "x": "y"])
        #expect(merged["plugins"]?[1]?["args"]?["cni"] == ["x": "y"])
    }

    @Test func unknownNetworkNamesPodAndElement() async throws {
        let error = try #require(await failure("storage, nothere"))
        #expect(error.description == "pod \"team-a/web\": invalid network selection in annotation \"k8s.v1.cni.cncf.io/networks\": "
            + "element 2 (\"nothere\"): network \"nothere\" not found: no local network and no NetworkAttachmentDefinition \"team-a/nothere\" exist")
    }

    @Test func unknownNetworkWithoutKubernetes() async throws {
        let planner = AttachmentPlanner(configuration: configuration(), definitions: nil)
        await #expect(throws: SelectionError.self) {
            _ = try await planner.plan(namespace: "a", name: "b", labels: [:],
                                       annotations: ["k8s.v1.cni.cncf.io/networks": "macvlan-conf"], hasNetworkNamespace: true)
        }
    }

    @Test func invalidDefinitionConfigsRejected() async throws {
        let broken = try #require(await failure("broken"))
        #expect(broken.problems.first?.message.contains("invalid spec.config") == true)
        let typeless = try #require(await failure("typeless"))
        #expect(typeless.problems.first?.message.contains("spec.config.type: missing") == true)
        let unreachable = try #require(await failure("x", definitions: FakeDefinitions(failure: "API server unavailable")))
        #expect(unreachable.problems.first?.message.contains("API server unavailable") == true)
    }

    @Test func slowLookupTimesOut() async throws {
        var config = configuration()
        config.kubernetes.lookupTimeoutMilliseconds = 50
        let slow = FakeDefinitions(definitions.items.values.map { $0 }, delay: .seconds(5))
        let planner = AttachmentPlanner(configuration: config, definitions: slow)
        let started = ContinuousClock.now
        let error = await #expect(throws: SelectionError.self) {
            _ = try await planner.explain(namespace: "team-a", labels: [:], annotation: "macvlan-conf")
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(error?.problems.first?.message.hasPrefix("timed out after 50 ms looking up NetworkAttachmentDefinition \"team-a/macvlan-conf\"") == true)
    }

    @Test func explainMatchesPlan() async throws {
        let planner = AttachmentPlanner(configuration: configuration(), definitions: definitions)
        let plans = try await planner.explain(namespace: "team-a", labels: ["fast": "yes"], annotation: "macvlan-conf")
        #expect(plans.map(\.statusName) == ["everywhere", "labelled", "team-a/macvlan-conf"])
        #expect(plans.map(\.interface) == ["hydra", "net1", "net2"])
        #expect(plans.map(\.summary) == [
            "hydra everywhere type=bridge (default rule)",
            "net1 labelled type=bridge (default rule)",
            "net2 team-a/macvlan-conf type=macvlan (annotation element 1)",
        ])
    }

    @Test func isolationAppliesToBothForms() async throws {
        let isolation = IsolationSettings(enabled: true, allowedNamespaces: [])
        let short = try #require(await failure("shared/sriov", isolation: isolation))
        #expect(short.problems.first?.message.hasPrefix("namespace isolation forbids networks from namespace \"shared\"") == true)
        #expect(await failure(#"[{"name": "sriov", "namespace": "shared"}]"#, isolation: isolation) != nil)
        let allowed = IsolationSettings(enabled: true, allowedNamespaces: ["shared"])
        #expect(try await plan("shared/sriov", isolation: allowed).count == 2)
    }

    @Test func hostNetworkPods() async throws {
        #expect(try await plan(nil, hostNetwork: true).isEmpty, "default rules skip host-network pods")
        let error = try #require(await failure("storage", hostNetwork: true))
        #expect(error.problems.first?.message.contains("no network namespace (host network)") == true)
    }

    @Test func interfaceCollisionWithDefaults() async throws {
        let error = try #require(await failure("storage@hydra"))
        #expect(error.problems.first?.message == "interface \"hydra\" is already used by default network \"everywhere\"")
        let eth0 = try #require(await failure("storage@eth0"))
        #expect(eth0.problems.first?.message == "interface \"eth0\" is already used by the default network")
    }
}

extension IsolationSettings {
    init(enabled: Bool, allowedNamespaces: [String]) {
        self.init()
        self.enabled = enabled
        self.allowedNamespaces = allowedNamespaces
    }
}
