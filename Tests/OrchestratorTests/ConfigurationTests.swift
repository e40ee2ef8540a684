import CNI
import HydraLog
import Testing
@testable import Orchestrator

@Suite struct ConfigurationTests {
    static let issueExample = """
    {
      "nri": {"socket": "/var/run/nri/nri.sock", "pluginName": "hydra", "pluginIndex": "50"},
      "backends": {"dir": "/usr/lib/hydra/backends",
                   "load": [{"name": "bridge"}, {"name": "macvlan"},
                            {"name": "flannel", "required": true, "config": {"etcd": {"endpoints": ["https://127.0.0.1:2379"]}}}]},
      "stateDir": "/var/lib/hydra",
      "networks": [
        {"name": "cbr0", "interface": "hydra",
         "default": {"namespaces": ["*"], "labels": {}},
         "config": {"cniVersion": "1.0.0", "type": "bridge", "bridge": "hydra0", "isGateway": true,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.250.0.0/24"}]]}}}
      ],
      "annotations": {"selection": "k8s.v1.cni.cncf.io/networks", "status": "k8s.v1.cni.cncf.io/network-status", "perNetworkResults": true},
      "kubernetes": {"enabled": false},
      "metrics": {"listen": "127.0.0.1:9740"},
      "log": {"level": "info", "format": "logfmt"}
    }
    """

    @Test func exampleDecodes() throws {
        let config = try HydraConfiguration(parsing: Self.issueExample, source: "test")
        #expect(config.nri.socket == "/var/run/nri/nri.sock")
        #expect(config.nri.pluginIndex == "50")
        #expect(config.backends.load.map(\.name) == ["bridge", "macvlan", "flannel"])
        #expect(config.backends.load[2].required)
        #expect(!config.backends.load[0].required)
        #expect(config.backends.load[2].config["etcd"]?["endpoints"]?[0]?.stringValue == "https://127.0.0.1:2379")
        #expect(config.networks.count == 1)
        let network = try #require(config.networks.first)
        #expect(network.name == "cbr0")
        #expect(network.interface == "hydra")
        #expect(network.defaultRule == DefaultRule(namespaces: ["*"], labels: [:]))
        #expect(network.config["isGateway"] == .bool(true))
        #expect(network.config["name"] == .string("cbr0"), "a config without name gets the network's name")
        #expect(config.annotations.perNetworkResults)
        #expect(config.metrics.listen == "127.0.0.1:9740")
        #expect(config.log.logLevel == .info)
        #expect(config.log.logFormat == .logfmt)
    }

    @Test func emptyDocumentGivesDefaults() throws {
        let config = try HydraConfiguration(parsing: "{}", source: "test")
        #expect(config == HydraConfiguration())
        #expect(config.stateDir == "/var/lib/hydra")
        #expect(config.annotations.selection == "k8s.v1.cni.cncf.io/networks")
        #expect(config.annotations.status == "k8s.v1.cni.cncf.io/network-status")
        #expect(config.nri.pluginName == "hydra")
        #expect(config.reconcile.attachMissing)
    }

    @Test func integersSurviveInNetworkConfig() throws {
        let text = #"{"networks": [{"name": "a", "config": {"type": "bridge", "mtu": 1400, "ratio": 1.0}}]}"#
        let config = try HydraConfiguration(parsing: text, source: "test")
        #expect(config.networks[0].config["mtu"] == .integer(1400))
        #expect(config.networks[0].config["ratio"] == .double(1.0))
    }

    @Test func everyProblemReportedWithPath() throws {
        let text = """
        {"nri": {"socket": "relative.sock", "pluginIndex": "5"},
         "stateDir": 3,
         "networks": [
           {"name": "ok", "config": {"type": "bridge"}},
           {"name": "bad", "interface": "eth0/x", "config": {"type": "bridge"}},
           {"name": "ok", "config": {"plugins": []}},
           {"interface": "net1", "config": {"cniVersion": "9.9.9"}}
         ],
         "log": {"level": "loud", "format": "xml"},
         "metrics": {"listen": "localhost"},
         "colour": "blue"}
        """
        let error = try #require(throws: ConfigurationError.self) {
            try HydraConfiguration(parsing: text, source: "hydra.json")
        }
        let byPath = Dictionary(grouping: error.problems, by: \.path)
        #expect(byPath["nri.socket"]?.first?.message == "\"relative.sock\" is not valid: expected an absolute path")
        #expect(byPath["nri.pluginIndex"]?.first?.message.contains("two decimal digits") == true)
        #expect(byPath["stateDir"]?.first?.message == "expected a string, found a number")
        #expect(byPath["networks[1].interface"]?.first?.message
            == "\"eth0/x\" is not a valid interface name: at most 15 characters, no '/', ':' or whitespace")
        #expect(byPath["networks[2].name"]?.first?.message == "network \"ok\" is defined more than once")
        #expect(byPath["networks[2].config.plugins"] != nil)
        #expect(byPath["networks[3].name"]?.first?.message.hasPrefix("missing") == true)
        #expect(byPath["networks[3].config.cniVersion"]?.first?.message.contains("accepted values are") == true)
        #expect(byPath["networks[3].config.type"] != nil)
        #expect(byPath["log.level"]?.first?.message
            == "\"loud\" is not valid: accepted values are \"debug\", \"info\", \"warn\", \"warning\", \"error\"")
        #expect(byPath["log.format"] != nil)
        #expect(byPath["metrics.listen"] != nil)
        #expect(byPath["colour"]?.first?.message.hasPrefix("unknown field") == true)
        #expect(error.problems.count == 13)
        #expect(error.description.hasPrefix("invalid configuration hydra.json (13 problems):"))
    }

    @Test func malformedJSONReported() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try HydraConfiguration(parsing: "{\"nri\": ", source: "x.json")
        }
        #expect(error.problems.count == 1)
        #expect(error.problems[0].path == "(document)")
    }

    @Test func interfaceTooLongRejected() throws {
        let text = #"{"networks": [{"name": "a", "interface": "abcdefghijklmnop", "config": {"type": "bridge"}}]}"#
        let error = try #require(throws: ConfigurationError.self) { try HydraConfiguration(parsing: text, source: "t") }
        #expect(error.problems.map(\.path) == ["networks[0].interface"])
        #expect(error.problems[0].message.contains("16 characters long"))
    }

    @Test func defaultInterfaceCollisionsRejected() throws {
        let text = """
        {"networks": [{"name": "a", "interface": "x1", "default": {}, "config": {"type": "bridge"}},
                      {"name": "b", "interface": "x1", "default": {}, "config": {"type": "bridge"}},
                      {"name": "c", "interface": "eth0", "default": {}, "config": {"type": "bridge"}},
                      {"name": "d", "interface": "x1", "config": {"type": "bridge"}}]}
        """
        let error = try #require(throws: ConfigurationError.self) { try HydraConfiguration(parsing: text, source: "t") }
        #expect(error.problems.map(\.description) == [
            "networks[1].interface: \"x1\" is already used by networks[0]; default networks need distinct interface names",
            "networks[2].interface: \"eth0\" is already used by annotations.defaultInterface; default networks need distinct interface names",
        ])
    }

    @Test func defaultRuleAndIsolationDecoded() throws {
        let text = """
        {"networks": [{"name": "a", "config": {"type": "bridge"},
                       "default": {"namespaces": ["team-a"], "labels": {"net": "fast"}}}],
         "isolation": {"enabled": true, "allowedNamespaces": ["shared"]},
         "reconcile": {"intervalSeconds": 0, "attachMissing": false}}
        """
        let config = try HydraConfiguration(parsing: text, source: "t")
        let rule = try #require(config.networks[0].defaultRule)
        #expect(rule.matches(namespace: "team-a", podLabels: ["net": "fast", "x": "y"]))
        #expect(!rule.matches(namespace: "team-a", podLabels: ["net": "slow"]))
        #expect(!rule.matches(namespace: "team-b", podLabels: ["net": "fast"]))
        #expect(config.isolation.allows(podNamespace: "team-a", target: "shared"))
        #expect(!config.isolation.allows(podNamespace: "team-a", target: "team-b"))
        #expect(config.reconcile.intervalSeconds == 0)
        #expect(!config.reconcile.attachMissing)
    }

    @Test func overridesReplaceFileValues() throws {
        let config = try HydraConfiguration(parsing: Self.issueExample, source: "t")
        let overrides = CommandLineOverrides(socket: "/tmp/x.sock", stateDir: "/tmp/state", backendsDir: nil)
        let result = try overrides.applied(to: config)
        #expect(result.nri.socket == "/tmp/x.sock")
        #expect(result.stateDir == "/tmp/state")
        #expect(result.backends.dir == "/usr/lib/hydra/backends")
    }

    @Test func relativeOverrideRejected() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try CommandLineOverrides(stateDir: "state").applied(to: HydraConfiguration())
        }
        #expect(error.problems.map(\.path) == ["--state-dir"])
    }
}
