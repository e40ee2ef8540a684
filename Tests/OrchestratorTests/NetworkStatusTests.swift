import CNI
import Testing
@testable import Orchestrator

@Suite struct NetworkStatusTests {
    func record(result: CNIResult?, defaultRoute: [String] = []) -> AttachmentRecord {
        let request = AttachmentRequest(sandboxID: "s", pod: PodReference(namespace: "default", name: "web", uid: "u"),
                                        netnsPath: "/var/run/netns/p", network: "macvlan-conf", definitionNamespace: "default",
                                        interface: "net1", config: ["type": "macvlan"], runtimeConfig: [:],
                                        defaultRoute: defaultRoute, cniArgs: [:])
        return AttachmentRecord(request: request, result: result)
    }

    @Test func bridgeResultExactJSON() {
        let result = CNIResult(cniVersion: "1.0.0", interfaces: [
            CNIResult.Interface(name: "hydra0", mac: "02:00:00:00:00:aa"),
            CNIResult.Interface(name: "veth1234", mac: "02:00:00:00:00:bb"),
            CNIResult.Interface(name: "net1", mac: "02:00:00:00:00:cc", mtu: 1450, sandbox: "/var/run/netns/p"),
        ], ips: [
            CNIResult.IPConfig(address: "10.250.0.7/24", gateway: "10.250.0.1", interface: 2),
            CNIResult.IPConfig(address: "fd00::7/64", interface: 2),
        ], dns: CNIResult.DNS(nameservers: ["10.250.0.53"], search: ["svc.local"]))
        var sandbox = SandboxRecord(sandboxID: "s", pod: PodReference(namespace: "default", name: "web", uid: "u"),
                                    netnsPath: "/var/run/netns/p")
        sandbox.attachments = [record(result: result, defaultRoute: ["10.250.0.1"])]
        let defaultEntry = NetworkStatus.defaultEntry(name: "default", interface: "eth0", ips: ["10.0.0.5", "fd01::5/64"], mac: nil)
        let annotations = NetworkStatus.annotations(for: sandbox, defaultEntry: defaultEntry, settings: AnnotationSettings())
        #expect(annotations.count == 1)
        #expect(annotations["k8s.v1.cni.cncf.io/network-status"] == """
            [{"default":true,"interface":"eth0","ips":["10.0.0.5","fd01::5"],"name":"default"},\
            {"default":false,"dns":{"nameservers":["10.250.0.53"],"search":["svc.local"]},"gateway":["10.250.0.1"],\
            "interface":"net1","ips":["10.250.0.7","fd00::7"],"mac":"02:00:00:00:00:cc","mtu":1450,"name":"default/macvlan-conf"}]
            """)
    }

    @Test func resultWithoutSandboxInterface() {
        let result = CNIResult(cniVersion: "0.3.1", ips: [CNIResult.IPConfig(address: "10.1.1.2/24")])
        let entries = NetworkStatus.entries(for: record(result: result))
        #expect(entries == [NetworkStatusEntry(name: "default/macvlan-conf", interface: "net1", ips: ["10.1.1.2"], dns: CNIResult.DNS())])
        #expect(NetworkStatus.json(entries) == #"[{"default":false,"interface":"net1","ips":["10.1.1.2"],"name":"default/macvlan-conf"}]"#)
    }

    @Test func intentHasNoEntry() {
        #expect(NetworkStatus.entries(for: record(result: nil)).isEmpty)
    }

    @Test func perNetworkResultAnnotation() throws {
        var settings = AnnotationSettings()
        settings.perNetworkResults = true
        let result = CNIResult(cniVersion: "1.0.0", ips: [CNIResult.IPConfig(address: "10.1.1.2/24")])
        var sandbox = SandboxRecord(sandboxID: "s", pod: PodReference(namespace: "d", name: "w", uid: "u"), netnsPath: "/p")
        sandbox.attachments = [record(result: result)]
        let annotations = NetworkStatus.annotations(for: sandbox, defaultEntry: nil, settings: settings)
        let perNetwork = try #require(annotations["hydra.clusternet.io.macvlan-conf"])
        #expect(try CNIResult(json: JSONValue(parsing: perNetwork)) == result)
    }
}
