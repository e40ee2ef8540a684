import CNI
import Testing

@Suite struct CNIVersionTests {
    @Test func parsesAndCompares() throws {
        let old = try #require(CNIVersion("0.3.1"))
        let new = try #require(CNIVersion("1.0.0"))

        #expect(old < new)
        #expect(CNIVersion("1.1") == CNIVersion(major: 1, minor: 1, patch: 0))
        #expect(CNIVersion("0.4.0")! > CNIVersion("0.3.1")!)
        #expect(CNIVersion("1.10.0")! > CNIVersion("1.9.0")!)
        #expect(new.description == "1.0.0")
    }

    @Test(arguments: ["", "1", "1.0.0.0", "a.b.c", "1..0", "-1.0.0", "1.0.x", " 1.0.0"])
    func rejectsInvalidText(text: String) {
        #expect(CNIVersion(text) == nil)
    }

    @Test func supportedVersionsAreOrdered() {
        let parsed = CNIVersion.supportedVersions.compactMap(CNIVersion.init)

        #expect(parsed.count == CNIVersion.supportedVersions.count)
        #expect(parsed == parsed.sorted())
        #expect(CNIVersion.isSupported("1.1.0"))
        #expect(!CNIVersion.isSupported("0.2.0"))
        #expect(CNIVersion.current.description == "1.1.0")
    }
}
