import Foundation
import CNI
import Testing

@testable import Attachments

@Suite struct PluginChainTests {
    @Test func singlePluginBecomesList() throws {
        let config: JSONValue = ["cniVersion": "0.4.0", "name": "net", "type": "bridge", "cniVersions": ["1.0.0"]]
        let chain = try PluginChain(config: config, network: "fallback")
        #expect(chain.name == "net")
        #expect(chain.cniVersion == "0.4.0")
        #expect(chain.cniVersions == ["1.0.0"])
        #expect(chain.plugins.count == 1)
        #expect(chain.plugins[0].config["cniVersions"] == nil)
    }
}

@Suite struct ResultCacheTests {
    /// An entry as libcni's cacheAdd writes it (Go's encoding/json: the
    /// []byte config in base64, cniArgs as two-element arrays).
    static let libcniEntry = """
        {"kind":"cniCacheV1","containerId":"c0ffee","config":"eyJuYW1lIjoibmV0In0=","ifName":"net1",\
        "networkName":"net","netns":"/run/netns/x","cniArgs":[["IgnoreUnknown","1"],["K8S_POD_NAME","p"]],\
        "capabilityArgs":{"portMappings":[{"hostPort":80}]},\
        "result":{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.2/24"}],"dns":{}}}
        """

    @Test func readsLibcniEntry() throws {
        let directory = try TemporaryDirectory()
        let cache = ResultCache(directory: directory.path)
        try FileManager.default.createDirectory(atPath: cache.resultsDirectory, withIntermediateDirectories: true)
        let path = cache.path(network: "net", containerID: "c0ffee", ifName: "net1")
        #expect(path == directory.path + "/results/net-c0ffee-net1")
        try Self.libcniEntry.write(toFile: path, atomically: true, encoding: .utf8)

        let entry = try #require(try cache.read(network: "net", containerID: "c0ffee", ifName: "net1"))

        #expect(entry.containerID == "c0ffee")
        #expect(entry.netns == "/run/netns/x")
        #expect(String(decoding: entry.config, as: UTF8.self) == #"{"name":"net"}"#)
        #expect(entry.cniArgs.map(\.key) == ["IgnoreUnknown", "K8S_POD_NAME"])
        #expect(entry.capabilityArgs["portMappings"]?[0]?["hostPort"] == 80)
        #expect(try CNIResult(json: try #require(entry.result)).ips.first?.address == "10.1.0.2/24")
        #expect(cache.entries(network: "net").entries.count == 1)
        #expect(cache.entries(network: "other").entries.isEmpty)
    }

    @Test func rejectsForeignKind() throws {
        let directory = try TemporaryDirectory()
        let cache = ResultCache(directory: directory.path)
        try FileManager.default.createDirectory(atPath: cache.resultsDirectory, withIntermediateDirectories: true)
        let path = cache.path(network: "net", containerID: "c0ffee", ifName: "net1")
        try #"{"kind":"somethingElse"}"#.write(toFile: path, atomically: true, encoding: .utf8)

        #expect(throws: ResultCacheError.self) {
            _ = try cache.read(network: "net", containerID: "c0ffee", ifName: "net1")
        }
        #expect(try cache.read(network: "net", containerID: "missing", ifName: "net1") == nil)
    }
}
