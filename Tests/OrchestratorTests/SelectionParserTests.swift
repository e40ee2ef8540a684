import CNI
import Testing
@testable import Orchestrator

@Suite struct SelectionParserTests {
    func parse(_ text: String) throws -> [NetworkSelectionElement] {
        try SelectionAnnotationParser.parse(text).get()
    }

    func problems(_ text: String) -> [SelectionProblem] {
        guard case .failure(let errors) = SelectionAnnotationParser.parse(text) else { return [] }
        return errors.problems
    }

    @Test func shortFormAllShapes() throws {
        let elements = try parse("a, other/b, c@eth1 , ns/d@net5")
        #expect(elements == [
            NetworkSelectionElement(name: "a"),
            NetworkSelectionElement(name: "b", namespace: "other"),
            NetworkSelectionElement(name: "c", interface: "eth1"),
            NetworkSelectionElement(name: "d", namespace: "ns", interface: "net5"),
        ])
    }

    @Test func emptyValueSelectsNothing() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("   ").isEmpty)
        #expect(try parse("[]").isEmpty)
    }

    @Test func shortFormErrors() {
        #expect(problems("a,,b").map(\.description) == ["element 2 (\"\"): empty network name (stray comma?)"])
        #expect(problems("a,").count == 1)
        #expect(problems("ns/").first?.message == "empty network name")
        #expect(problems("/a").first?.message == "empty namespace")
        #expect(problems("a/b/c").first?.message.contains("at most one '/'") == true)
        #expect(problems("a@b@c").count == 1)
        #expect(problems("a@").first?.message.hasPrefix("interface name \"\" is invalid") == true)
        #expect(problems("a@this-is-too-long0").first?.message.contains("at most 15 characters") == true)
        #expect(problems("a@x:y").count == 1)
        #expect(problems("Upper").first?.message.contains("DNS-1123") == true)
    }

    @Test func jsonFormMapsEveryKey() throws {
        let text = """
        [{"name": "a", "namespace": "ns", "interface": "eth1", "ips": ["10.1.1.5/24", "fd00::5"],
          "mac": "02:42:ac:11:00:02", "default-route": ["10.1.1.1"], "cni-args": {"foo": "bar", "n": 1},
          "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
          "bandwidth": {"ingressRate": 1000, "egressRate": 2000}, "infiniband-guid": "c2:11:22:33:44:55:66:77"}]
        """
        let element = try #require(try parse(text).first)
        #expect(element.name == "a")
        #expect(element.namespace == "ns")
        #expect(element.interface == "eth1")
        #expect(element.defaultRoute == ["10.1.1.1"])
        #expect(element.cniArgs == ["foo": "bar", "n": 1])
        let runtime = element.runtimeConfig
        #expect(runtime["ips"] == ["10.1.1.5/24", "fd00::5"])
        #expect(runtime["mac"] == "02:42:ac:11:00:02")
        #expect(runtime["portMappings"] == [["hostPort": 8080, "containerPort": 80, "protocol": "tcp"]])
        #expect(runtime["bandwidth"] == ["ingressRate": 1000, "egressRate": 2000])
        #expect(runtime["infinibandGUID"] == "c2:11:22:33:44:55:66:77")
        #expect(runtime.count == 5)
    }

    @Test func malformedJSONRejected() {
        let found = problems("[{\"name\": \"a\"")
        #expect(found.count == 1)
        #expect(found[0].position == 0)
        #expect(found[0].message.hasPrefix("malformed JSON"))
    }

    @Test func jsonNotListRejected() {
        #expect(problems("[1]").first?.message == "expected an object, found a number")
    }

    @Test func jsonElementErrors() {
        #expect(problems(#"[{"namespace": "x"}]"#).map(\.message) == ["missing \"name\""])
        #expect(problems(#"[{"name": ""}]"#).map(\.message) == ["empty network name"])
        #expect(problems(#"[{"name": 5}]"#).map(\.message) == ["\"name\" must be a string, found a number"])
        #expect(problems(#"[{"name": "a", "interface": "has space"}]"#).first?.message.contains("whitespace") == true)
        #expect(problems(#"[{"name": "a", "ips": ["10.1.1.300"]}]"#).first?.message.contains("\"10.1.1.300\" is not a valid IP address") == true)
        #expect(problems(#"[{"name": "a", "ips": ["10.1.1.3/33"]}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "ips": "10.1.1.3"}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "mac": "02:42:ac:11:00"}]"#).first?.message.contains("not a valid MAC address") == true)
        #expect(problems(#"[{"name": "a", "default-route": ["gw"]}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "cni-args": []}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "portMappings": {}}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "bandwidth": 5}]"#).count == 1)
        #expect(problems(#"[{"name": "a", "colour": "red"}]"#).first?.message.hasPrefix("unknown key \"colour\"") == true)
    }

    @Test func duplicateInterfaceRejected() {
        let found = problems(#"[{"name": "a", "interface": "eth1"}, {"name": "b", "interface": "eth1"}]"#)
        #expect(found.map(\.description) == ["element 2 (\"b\"): interface \"eth1\" is already used by element 1"])
        #expect(problems("a@net1, b@net1").count == 1)
    }

    @Test func defaultRouteOnTwoElementsRejected() {
        let text = #"[{"name": "a", "default-route": ["10.1.1.1"]}, {"name": "b", "default-route": ["10.2.2.1"]}]"#
        let found = problems(text)
        #expect(found.count == 1)
        #expect(found.first?.position == 2)
        #expect(found.first?.message.contains("more than one element (elements 1, 2)") == true)
        #expect(problems(#"[{"name": "a", "default-route": ["10.1.1.1"]}, {"name": "b", "default-route": []}]"#).isEmpty)
    }

    @Test func everyProblemCollected() {
        #expect(problems(#"[{"name": ""}, {"name": "b", "mac": "x"}]"#).count == 2)
    }
}
