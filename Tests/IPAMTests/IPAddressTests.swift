import IPAM
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"),
        ("fd00:0:0:0:0:0:0:1", "fd00::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1"),
        ("::", "::"),
        ("::1", "::1"),
        ("fd01::10", "fd01::10"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
    ])
    func formatsLikeGo(input: String, output: String) throws {
        #expect(try #require(IPAddress(input)).description == output)
    }

    @Test(arguments: ["", "10.1.2", "10.1.2.256", "010.1.2.3", "fe80::1%eth0", "10.0.0.1/24", "g::1"])
    func rejectsInvalidText(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func nextCarriesAndWraps() throws {
        #expect(IPAddress("10.0.0.255")!.next.description == "10.0.1.0")
        #expect(IPAddress("255.255.255.255")!.next.description == "0.0.0.0")
        #expect(IPAddress("fd00::ffff")!.next.description == "fd00::1:0")
        #expect(IPAddress("10.0.1.0")!.previous.description == "10.0.0.255")
    }

    @Test func networkArithmetic() throws {
        let network = try #require(IPNetwork(cidr: "10.99.0.5/29"))

        #expect(network.description == "10.99.0.5/29")
        #expect(network.networkAddress.description == "10.99.0.0")
        #expect(network.lastAddress.description == "10.99.0.7")
        #expect(network.contains(IPAddress("10.99.0.7")!))
        #expect(!network.contains(IPAddress("10.99.0.8")!))
        #expect(!network.contains(IPAddress("::1")!))

        let v6 = try #require(IPNetwork(cidr: "fd00:1::/64"))
        #expect(v6.lastAddress.description == "fd00:1::ffff:ffff:ffff:ffff")
        #expect(IPNetwork(cidr: "0.0.0.0/0")!.contains(IPAddress("1.2.3.4")!))
        #expect(IPNetwork(cidr: "10.0.0.0/33") == nil)
        #expect(IPNetwork(cidr: "10.0.0.0/") == nil)
    }
}
