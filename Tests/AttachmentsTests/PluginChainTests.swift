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
