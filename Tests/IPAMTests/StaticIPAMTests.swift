import CNI
import Foundation
import IPAM
import Testing

private let staticConfig: JSONValue = [
    "cniVersion": "1.0.0", "name": "s",
    "ipam": [
        "type": "static",
        "addresses": [
            ["address": "10.10.0.1/24", "gateway": "10.10.0.254"],
            ["address": "3ffe:ffff:0:01ff::1/64", "gateway": "3ffe:ffff:0::1"],
        ],
        "routes": [["dst": "0.0.0.0/0"], ["dst": "192.168.0.0/16", "gw": "10.10.5.1"]],
        "dns": ["nameservers": ["10.10.0.53"], "domain": "example.com", "search": ["example.com"]],
    ],
]

/// Returns a copy of `config` with `key` set at the top level.
private func with(_ config: JSONValue, _ key: String, _ value: JSONValue) -> JSONValue {
    var copy = config
    copy[key] = value
    return copy
}

@Suite struct StaticIPAMTests {
    @Test func returnsConfiguredAddressesRoutesAndDNS() throws {
        let result = try StaticIPAM(networkConfig: staticConfig).result()

        #expect(result.cniVersion == "1.0.0")
        #expect(result.ips == [
            CNIResult.IPConfig(address: "10.10.0.1/24", gateway: "10.10.0.254"),
            CNIResult.IPConfig(address: "3ffe:ffff:0:1ff::1/64", gateway: "3ffe:ffff::1"),
        ])
        #expect(result.routes == [CNIResult.Route(dst: "0.0.0.0/0"), CNIResult.Route(dst: "192.168.0.0/16", gw: "10.10.5.1")])
        #expect(result.dns == CNIResult.DNS(nameservers: ["10.10.0.53"], domain: "example.com", search: ["example.com"]))
    }

    @Test func cniArgsAddAddressesAndGateways() throws {
        let ipam = try StaticIPAM(networkConfig: staticConfig, cniArgs: "IP=10.10.1.5/24,10.10.2.5/16;GATEWAY=10.10.1.1")
        #expect(ipam.result().ips.suffix(2) == [
            CNIResult.IPConfig(address: "10.10.1.5/24", gateway: "10.10.1.1"),
            CNIResult.IPConfig(address: "10.10.2.5/16", gateway: "10.10.1.1"),
        ])
    }

    @Test func runtimeConfigReplacesArgsWhichReplaceConfig() throws {
        let argsOnly = with(staticConfig, "args", ["cni": ["ips": ["10.10.3.5/24"]]])
        #expect(try StaticIPAM(networkConfig: argsOnly).result().ips == [CNIResult.IPConfig(address: "10.10.3.5/24")])

        let both = with(argsOnly, "runtimeConfig", ["ips": ["10.10.4.5/24"]])
        #expect(try StaticIPAM(networkConfig: both).result().ips == [CNIResult.IPConfig(address: "10.10.4.5/24")])
    }

    @Test func invalidAddressIsRejected() throws {
        let config: JSONValue = ["name": "s", "ipam": ["type": "static", "addresses": [["address": "10.10.0.1"]]]]
        #expect(cniErrorMessage { _ = try StaticIPAM(networkConfig: config) }
            == "the 'address' field is expected to be in CIDR notation, got: '10.10.0.1'")
        #expect(cniErrorMessage { _ = try StaticIPAM(networkConfig: staticConfig, cniArgs: "GATEWAY=x") }
            == "invalid gateway address: x")
        #expect(cniErrorMessage { _ = try StaticIPAM(networkConfig: staticConfig, cniArgs: "X=1") }
            == #"ARGS: unknown args ["X=1"]"#)
    }

    @Test func checkComparesGateways() throws {
        let ipam = try StaticIPAM(networkConfig: staticConfig)
        try ipam.check(previousResult: ipam.result(), ifName: "eth0")

        var wrong = ipam.result()
        wrong.ips[0].gateway = "10.10.0.2"
        #expect(cniErrorMessage { try ipam.check(previousResult: wrong, ifName: "eth0") }
            == "static: Failed to match addr 10.10.0.1 on interface eth0")
    }

    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/static"),
                   "needs root and /usr/lib/cni/static"))
    func matchesReferencePlugin() throws {
        let netns = try TestNetns()
        defer { netns.delete() }
        let cases: [(JSONValue, String)] = [
            (staticConfig, ""),
            (staticConfig, "IP=10.10.1.5/24,10.10.2.5/16;GATEWAY=10.10.1.1"),
            (with(staticConfig, "args", ["cni": ["ips": ["10.10.3.5/24"]]]), ""),
            (with(with(staticConfig, "args", ["cni": ["ips": ["10.10.3.5/24"]]]), "runtimeConfig",
                  ["ips": ["10.10.4.5/24"]]), ""),
            (with(staticConfig, "cniVersion", "0.3.1"), ""),
            (["cniVersion": "1.0.0", "name": "s", "ipam": ["type": "static"]], ""),
        ]
        for (config, cniArgs) in cases {
            let environment = [
                "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": netns.path, "CNI_IFNAME": "eth0",
                "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": cniArgs,
            ]
            let (status, output) = try run("/usr/lib/cni/static", [], environment: environment, input: config.encoded())
            #expect(status == 0, "reference static failed for \(config)")
            let expected = try CNIResult(parsing: output)
            #expect(try StaticIPAM(networkConfig: config, cniArgs: cniArgs).result() == expected, "config \(config)")
        }
    }
}

@Suite struct IPAMDispatcherTests {
    @Test func runsNativeTypesWithoutTheExecutor() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let dispatcher = IPAMDispatcher { type, command, _ in
            throw CNIError(code: 999, msg: "unexpected exec of \(type) \(command)")
        }
        let config = hostLocalConfig(name: "disp", dataDir: directory.path, ipam: ["subnet": "10.99.20.0/24"])

        let result = try dispatcher.add(networkConfig: config, containerID: "a", ifName: "eth0")
        #expect(addresses(result) == ["10.99.20.2"])
        try dispatcher.check(networkConfig: config, containerID: "a", ifName: "eth0")
        try dispatcher.del(networkConfig: config, containerID: "a", ifName: "eth0")
        try dispatcher.del(networkConfig: config, containerID: "a", ifName: "eth0")
        #expect(directory.files(in: "disp") == ["last_reserved_ip.0", "lock"])

        let staticResult = try dispatcher.add(networkConfig: staticConfig, containerID: "a", ifName: "eth0")
        #expect(staticResult.ips.count == 2)
        try dispatcher.check(networkConfig: with(staticConfig, "prevResult", try staticResult.jsonValue()),
                             containerID: "a", ifName: "eth0")
        #expect(cniErrorMessage { try dispatcher.check(networkConfig: staticConfig, containerID: "a", ifName: "eth0") }
            == "Required prevResult missing")
        try dispatcher.del(networkConfig: staticConfig, containerID: "a", ifName: "eth0")
    }

    @Test func otherTypesGoToTheExecutor() throws {
        let calls = Collected()
        let reply = #"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"192.0.2.9/24"}],"dns":{}}"#
        let dispatcher = IPAMDispatcher { type, command, stdin in
            let config = try JSONValue(parsing: stdin)
            calls.append(["\(type) \(command) \(config["ipam"]?["type"]?.stringValue ?? "?") \(config["x-extra"] ?? .null)"])
            return command == "ADD" ? Data(reply.utf8) : Data()
        }
        let config: JSONValue = ["cniVersion": "0.4.0", "name": "d", "x-extra": 7,
                                 "ipam": ["type": "dhcp", "daemonSocketPath": "/run/cni/dhcp.sock"]]

        let result = try dispatcher.add(networkConfig: config, containerID: "a", ifName: "eth0")
        try dispatcher.check(networkConfig: config, containerID: "a", ifName: "eth0")
        try dispatcher.del(networkConfig: config, containerID: "a", ifName: "eth0")

        #expect(result.ips == [CNIResult.IPConfig(address: "192.0.2.9/24")])
        #expect(calls.snapshot().0 == ["dhcp ADD dhcp 7", "dhcp CHECK dhcp 7", "dhcp DEL dhcp 7"])
    }

    @Test func missingTypeIsAnInvalidConfig() {
        let dispatcher = IPAMDispatcher { _, _, _ in Data() }
        #expect(cniErrorMessage { _ = try dispatcher.add(networkConfig: ["name": "n", "ipam": [:]],
                                                         containerID: "a", ifName: "eth0") }
            == "missing ipam.type in network configuration")
        #expect(cniErrorMessage { _ = try dispatcher.add(networkConfig: ["name": "n"], containerID: "a", ifName: "eth0") }
            == "IPAM config missing 'ipam' key")
    }
}
