import CNI
import Foundation
import Testing

/// A bridge-plugin-like result using every 1.1.0 field.
private let fullResult = CNIResult(
    cniVersion: "1.1.0",
    interfaces: [
        .init(name: "cni0", mac: "0a:58:0a:f4:00:01", mtu: 1450),
        .init(name: "veth1a2b3c4d", mac: "ce:e1:9b:6c:1f:02"),
        .init(name: "eth1", mac: "0a:58:0a:f4:00:07", mtu: 1450, sandbox: "/var/run/netns/cni-1234",
              socketPath: "/run/vhost/sock0", pciID: "0000:03:00.1"),
    ],
    ips: [
        .init(address: "10.244.0.7/24", gateway: "10.244.0.1", interface: 2),
        .init(address: "fd00:10:244::7/64", gateway: "fd00:10:244::1", interface: 2),
    ],
    routes: [
        .init(dst: "0.0.0.0/0", gw: "10.244.0.1", mtu: 1400, advmss: 1360, priority: 100, table: 200, scope: 0),
        .init(dst: "::/0"),
    ],
    dns: .init(nameservers: ["10.96.0.10"], domain: "cluster.local",
               search: ["default.svc.cluster.local", "svc.cluster.local"], options: ["ndots:5"]))

private let versions = CNIVersion.supportedVersions

/// Returns `result` as a reader of `version` sees it: fields that version lacks cleared.
private func expected(_ result: CNIResult, at version: String) -> CNIResult {
    var copy = result
    copy.cniVersion = version
    if CNIVersion(version)! < .v1_1_0 {
        for index in copy.interfaces.indices {
            copy.interfaces[index].mtu = nil
            copy.interfaces[index].socketPath = nil
            copy.interfaces[index].pciID = nil
        }
        for index in copy.routes.indices {
            copy.routes[index].mtu = nil
            copy.routes[index].advmss = nil
            copy.routes[index].priority = nil
            copy.routes[index].table = nil
            copy.routes[index].scope = nil
        }
    }
    return copy
}

@Suite struct CNIResultTests {
    @Test(arguments: versions, versions)
    func conversionPair(from: String, to: String) throws {
        let source = try fullResult.converted(to: from)
        #expect(source == expected(fullResult, at: from))

        let data = try source.encoded(as: to)
        let json = try JSONValue(parsing: data)
        let parsed = try CNIResult(parsing: data)
        let hasV11 = CNIVersion(to)! >= .v1_1_0 && CNIVersion(from)! >= .v1_1_0

        #expect(json["cniVersion"]?.stringValue == to)
        #expect(parsed == expected(source, at: to))
        for ip in json["ips"]?.arrayValue ?? [] {
            let version = ip["version"]?.stringValue
            if CNIVersion(to)! < .v1_0_0 {
                #expect(version == (ip["address"]!.stringValue!.contains(":") ? "6" : "4"))
            } else {
                #expect(version == nil)
            }
            #expect(ip["interface"] == .integer(2))
        }
        #expect((json["interfaces"]?[0]?["mtu"] != nil) == hasV11)
        #expect((json["interfaces"]?[2]?["socketPath"] != nil) == hasV11)
        #expect((json["interfaces"]?[2]?["pciID"] != nil) == hasV11)
        #expect(json["interfaces"]?[2]?["sandbox"]?.stringValue == "/var/run/netns/cni-1234")
        #expect((json["routes"]?[0]?["advmss"] != nil) == hasV11)
        #expect((json["routes"]?[0]?["table"] != nil) == hasV11)
        #expect(json["routes"]?[0]?["gw"]?.stringValue == "10.244.0.1")
        #expect(json["dns"]?["search"]?.arrayValue?.count == 2)
    }

    @Test func downgradeToV040MatchesSpecification() throws {
        let data = try fullResult.encoded(as: "0.4.0")
        let expectedJSON = try JSONValue(parsing: """
            {"cniVersion":"0.4.0",
             "interfaces":[{"name":"cni0","mac":"0a:58:0a:f4:00:01"},
                           {"name":"veth1a2b3c4d","mac":"ce:e1:9b:6c:1f:02"},
                           {"name":"eth1","mac":"0a:58:0a:f4:00:07","sandbox":"/var/run/netns/cni-1234"}],
             "ips":[{"version":"4","address":"10.244.0.7/24","gateway":"10.244.0.1","interface":2},
                    {"version":"6","address":"fd00:10:244::7/64","gateway":"fd00:10:244::1","interface":2}],
             "routes":[{"dst":"0.0.0.0/0","gw":"10.244.0.1"},{"dst":"::/0"}],
             "dns":{"nameservers":["10.96.0.10"],"domain":"cluster.local",
                    "search":["default.svc.cluster.local","svc.cluster.local"],"options":["ndots:5"]}}
            """)
        #expect(try JSONValue(parsing: data) == expectedJSON)
    }

    @Test func referenceHostLocalOutputParses() throws {
        // Output of /usr/lib/cni/host-local 1.1.1 for a 0.4.0 configuration.
        let output = Data("""
            {
                "cniVersion": "0.4.0",
                "ips": [
                    {
                        "version": "4",
                        "address": "10.95.0.2/24",
                        "gateway": "10.95.0.1"
                    }
                ],
                "dns": {}
            }
            """.utf8)
        let result = try CNIResult(parsing: output)

        #expect(result.cniVersion == "0.4.0")
        #expect(result.ips == [.init(address: "10.95.0.2/24", gateway: "10.95.0.1")])
        #expect(result.dns.isEmpty)
        #expect(try JSONValue(parsing: result.encoded(as: "1.0.0"))
            == ["cniVersion": "1.0.0", "ips": [["address": "10.95.0.2/24", "gateway": "10.95.0.1"]], "dns": [:]])
    }

    @Test func ipv4MappedAddressCountsAsVersion4() throws {
        let result = CNIResult(cniVersion: "1.0.0", ips: [.init(address: "::ffff:10.0.0.1/120")])
        let json = try JSONValue(parsing: result.encoded(as: "0.3.1"))
        #expect(json["ips"]?[0]?["version"] == "4")
    }

    @Test func encodingToUnsupportedVersionFails() {
        #expect {
            try fullResult.encoded(as: "0.2.0")
        } throws: { error in
            (error as? CNIError)?.code == CNIError.incompatibleCNIVersion
        }
    }

    @Test(arguments: [
        (#"{"ips":[]}"#, CNIError.incompatibleCNIVersion),
        (#"{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}"#, CNIError.incompatibleCNIVersion),
        (#"{"cniVersion":"9.9.9"}"#, CNIError.incompatibleCNIVersion),
        ("not json", CNIError.decodingFailure),
        ("[]", CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":{}}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.300/24"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":[{"gateway":"10.0.0.1"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/24","gateway":"x"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/24","interface":"0"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","routes":[{"gw":"10.0.0.1"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","routes":[{"dst":"0.0.0.0/33"}]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","dns":[]}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.0.0","dns":{"nameservers":[1]}}"#, CNIError.decodingFailure),
        (#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mtu":"1500"}]}"#, CNIError.decodingFailure),
    ])
    func parseErrors(text: String, code: UInt) {
        #expect {
            try CNIResult(parsing: Data(text.utf8))
        } throws: { error in
            (error as? CNIError)?.code == code
        }
    }

    @Test func minimalResultEncodesEmptyDNS() throws {
        let json = try JSONValue(parsing: CNIResult(cniVersion: "1.0.0").encoded())
        #expect(json == ["cniVersion": "1.0.0", "dns": [:]])
    }
}
