import CNI
import Foundation
import IPAM
import Testing

@Suite struct HostLocalTests {
    @Test func allocationOrderAndExhaustion() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let config = hostLocalConfig(name: "order", dataDir: directory.path,
                                     ipam: ["subnet": "10.99.0.0/29", "routes": [["dst": "0.0.0.0/0"]]])
        let ipam = try HostLocalIPAM(networkConfig: config)

        var allocated: [String] = []
        for index in 1...5 {
            let result = try ipam.allocate(containerID: "c\(index)", ifName: "eth0")
            allocated += addresses(result)
            #expect(result.ips.first?.gateway == "10.99.0.1")
            #expect(result.ips.first?.interface == nil)
            #expect(result.routes == [CNIResult.Route(dst: "0.0.0.0/0")])
            #expect(result.cniVersion == "1.0.0")
        }
        #expect(allocated == ["10.99.0.2", "10.99.0.3", "10.99.0.4", "10.99.0.5", "10.99.0.6"])

        let message = cniErrorMessage { _ = try ipam.allocate(containerID: "c6", ifName: "eth0") }
        #expect(message == "failed to allocate for range 0: no IP addresses available in range set: 10.99.0.1-10.99.0.6")
    }

    @Test func allocationWrapsAroundAfterLastReserved() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let config = hostLocalConfig(name: "wrap", dataDir: directory.path, ipam: ["subnet": "10.99.1.0/29"])
        let ipam = try HostLocalIPAM(networkConfig: config)
        for index in 1...5 {
            _ = try ipam.allocate(containerID: "c\(index)", ifName: "eth0")
        }

        try ipam.release(containerID: "c3", ifName: "eth0")
        try ipam.release(containerID: "c1", ifName: "eth0")
        // The last reserved address is .6, so the walk wraps to .1 (the gateway, skipped) and .2.
        #expect(addresses(try ipam.allocate(containerID: "c7", ifName: "eth0")) == ["10.99.1.2"])
        #expect(addresses(try ipam.allocate(containerID: "c8", ifName: "eth0")) == ["10.99.1.4"])
        #expect(directory.contents("wrap/last_reserved_ip.0") == Array("10.99.1.4".utf8))
    }

    @Test func releasedAddressIsNotReusedBeforeFullTurn() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let config = hostLocalConfig(name: "turn", dataDir: directory.path, ipam: ["subnet": "10.99.2.0/24"])
        let ipam = try HostLocalIPAM(networkConfig: config)

        #expect(addresses(try ipam.allocate(containerID: "a", ifName: "eth0")) == ["10.99.2.2"])
        try ipam.release(containerID: "a", ifName: "eth0")
        #expect(addresses(try ipam.allocate(containerID: "b", ifName: "eth0")) == ["10.99.2.3"])
    }

    @Test func reservationFilesUseReferenceFormat() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let config = hostLocalConfig(name: "files", dataDir: directory.path, ipam: ["subnet": "10.99.3.0/24"])
        let ipam = try HostLocalIPAM(networkConfig: config)
        _ = try ipam.allocate(containerID: "abc123", ifName: "net1")

        #expect(directory.files(in: "files") == ["10.99.3.2", "last_reserved_ip.0", "lock"])
        #expect(directory.contents("files/10.99.3.2") == Array("abc123\r\nnet1".utf8))
        #expect(directory.contents("files/last_reserved_ip.0") == Array("10.99.3.2".utf8))
        #expect(directory.contents("files/lock") == [])

        var info = stat()
        #expect(stat(directory.path + "/files/10.99.3.2", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o644)
    }

    @Test func requestedAddressFromEachSource() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipamSection: [String: JSONValue] = ["subnet": "10.99.4.0/24"]
        let plain = hostLocalConfig(name: "req", dataDir: directory.path, ipam: ipamSection)

        let fromArgs = try HostLocalIPAM(networkConfig: plain, cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.99.4.50")
        #expect(addresses(try fromArgs.allocate(containerID: "a", ifName: "eth0")) == ["10.99.4.50"])

        let runtime = hostLocalConfig(name: "req", dataDir: directory.path, ipam: ipamSection,
                                      extra: ["runtimeConfig": ["ips": ["10.99.4.60/24"]]])
        #expect(addresses(try HostLocalIPAM(networkConfig: runtime).allocate(containerID: "b", ifName: "eth0"))
            == ["10.99.4.60"])

        let argsIPs = hostLocalConfig(name: "req", dataDir: directory.path, ipam: ipamSection,
                                      extra: ["args": ["cni": ["ips": ["10.99.4.70"]]]])
        #expect(addresses(try HostLocalIPAM(networkConfig: argsIPs).allocate(containerID: "c", ifName: "eth0"))
            == ["10.99.4.70"])

        let taken = cniErrorMessage {
            _ = try HostLocalIPAM(networkConfig: plain, cniArgs: "IP=10.99.4.50").allocate(containerID: "d", ifName: "eth0")
        }
        #expect(taken == "failed to allocate for range 0: requested IP address 10.99.4.50 is not available in range set 10.99.4.1-10.99.4.254")

        let gateway = cniErrorMessage {
            _ = try HostLocalIPAM(networkConfig: plain, cniArgs: "IP=10.99.4.1").allocate(containerID: "d", ifName: "eth0")
        }
        #expect(gateway == "failed to allocate for range 0: requested ip 10.99.4.1 is subnet's gateway")

        let outside = cniErrorMessage {
            _ = try HostLocalIPAM(networkConfig: plain, cniArgs: "IP=10.99.4.255").allocate(containerID: "d", ifName: "eth0")
        }
        #expect(outside == "failed to allocate all requested IPs: 10.99.4.255")
        // The failed request rolled back the address it took for range 0.
        #expect(try fromArgs.reservedAddresses(containerID: "d", ifName: "eth0").isEmpty)
    }

    @Test func runtimeIPRangesComeFirst() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let config = hostLocalConfig(
            name: "caps", dataDir: directory.path,
            ipam: ["ranges": [[["subnet": "fd00:97::/64"]]],
                   "routes": [["dst": "10.0.0.0/8", "gw": "10.99.13.1", "mtu": 1400, "table": 100]]],
            cniVersion: "1.1.0",
            extra: ["runtimeConfig": ["ipRanges": [[["subnet": "10.99.13.0/24", "rangeStart": "10.99.13.100"]]]]])
        let ipam = try HostLocalIPAM(networkConfig: config)
        #expect(ipam.config.rangeSets.map(\.description) == ["10.99.13.100-10.99.13.254", "fd00:97::1-fd00:97::ffff:ffff:ffff:ffff"])

        let result = try ipam.allocate(containerID: "a", ifName: "eth0")
        #expect(addresses(result) == ["10.99.13.100", "fd00:97::2"])
        #expect(result.routes == [CNIResult.Route(dst: "10.0.0.0/8", gw: "10.99.13.1", mtu: 1400, table: 100)])
    }

    @Test func unknownCNIArgsAreRejected() throws {
        let config = hostLocalConfig(name: "args", dataDir: "/nonexistent", ipam: ["subnet": "10.99.5.0/24"])
        let message = cniErrorMessage { _ = try HostLocalIPAM(networkConfig: config, cniArgs: "K8S_POD_NAME=x") }
        #expect(message == #"ARGS: unknown args ["K8S_POD_NAME=x"]"#)
        let pair = cniErrorMessage { _ = try HostLocalIPAM(networkConfig: config, cniArgs: "IP") }
        #expect(pair == #"ARGS: invalid pair "IP""#)
    }

    @Test func duplicateAllocationIsRejected() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "dup", dataDir: directory.path, ipam: ["subnet": "10.99.6.0/24"]))
        _ = try ipam.allocate(containerID: "a", ifName: "eth0")

        let message = cniErrorMessage { _ = try ipam.allocate(containerID: "a", ifName: "eth0") }
        #expect(message == "failed to allocate for range 0: 10.99.6.2 has been allocated to a, duplicate allocation is not allowed")
        // Another interface of the same container gets its own address.
        #expect(addresses(try ipam.allocate(containerID: "a", ifName: "eth1")) == ["10.99.6.3"])
    }

    @Test func ipv6RangeIncludesLastAddress() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "v6", dataDir: directory.path,
            ipam: ["ranges": [[["subnet": "fd00:99::/126"]]], "routes": [["dst": "::/0"]]]))

        let first = try ipam.allocate(containerID: "a", ifName: "eth0")
        #expect(first.ips == [CNIResult.IPConfig(address: "fd00:99::2/126", gateway: "fd00:99::1")])
        #expect(addresses(try ipam.allocate(containerID: "b", ifName: "eth0")) == ["fd00:99::3"])
        let message = cniErrorMessage { _ = try ipam.allocate(containerID: "c", ifName: "eth0") }
        #expect(message == "failed to allocate for range 0: no IP addresses available in range set: fd00:99::1-fd00:99::3")
        #expect(directory.files(in: "v6") == ["fd00:99::2", "fd00:99::3", "last_reserved_ip.0", "lock"])
    }

    @Test func dualStackTakesOneAddressPerRangeSet() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "dual", dataDir: directory.path,
            ipam: ["ranges": [
                [["subnet": "10.99.7.0/30"], ["subnet": "10.99.8.0/30"]],
                [["subnet": "fd00:98::/120", "rangeStart": "fd00:98::10", "rangeEnd": "fd00:98::12"]],
            ]]))

        let first = try ipam.allocate(containerID: "a", ifName: "eth0")
        #expect(first.ips == [
            CNIResult.IPConfig(address: "10.99.7.2/30", gateway: "10.99.7.1"),
            CNIResult.IPConfig(address: "fd00:98::10/120", gateway: "fd00:98::1"),
        ])
        let second = try ipam.allocate(containerID: "b", ifName: "eth0")
        #expect(addresses(second) == ["10.99.8.2", "fd00:98::11"])
        #expect(directory.contents("dual/last_reserved_ip.1") == Array("fd00:98::11".utf8))

        let message = cniErrorMessage { _ = try ipam.allocate(containerID: "c", ifName: "eth0") }
        #expect(message == "failed to allocate for range 0: no IP addresses available in range set: 10.99.7.1-10.99.7.2,10.99.8.1-10.99.8.2")

        try ipam.release(containerID: "a", ifName: "eth0")
        #expect(directory.files(in: "dual") == ["10.99.8.2", "fd00:98::11", "last_reserved_ip.0", "last_reserved_ip.1", "lock"])
    }

    @Test func releaseIsIdempotentAndHandlesLegacyFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "rel", dataDir: directory.path, ipam: ["subnet": "10.99.9.0/24"]))
        _ = try ipam.allocate(containerID: "a", ifName: "eth0")
        _ = try ipam.allocate(containerID: "a", ifName: "eth1")

        try ipam.release(containerID: "a", ifName: "eth0")
        try ipam.release(containerID: "a", ifName: "eth0")
        try ipam.release(containerID: "never", ifName: "eth0")
        #expect(directory.files(in: "rel") == ["10.99.9.3", "last_reserved_ip.0", "lock"])

        // Plugins before 0.7 wrote only the container ID.
        FileManager.default.createFile(atPath: directory.path + "/rel/10.99.9.100", contents: Data("old-id".utf8))
        try ipam.check(containerID: "old-id", ifName: "eth9")
        try ipam.release(containerID: "old-id", ifName: "eth9")
        #expect(!directory.files(in: "rel").contains("10.99.9.100"))
        #expect(cniErrorMessage { try ipam.check(containerID: "old-id", ifName: "eth9") }
            == "host-local: Failed to find address added by container old-id")
    }

    @Test func releaseAllKeepsOnlyLiveAttachments() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "gc", dataDir: directory.path, ipam: ["subnet": "10.99.14.0/24"]))
        _ = try ipam.allocate(containerID: "live", ifName: "eth0")
        _ = try ipam.allocate(containerID: "live", ifName: "eth1")
        _ = try ipam.allocate(containerID: "dead", ifName: "eth0")
        FileManager.default.createFile(atPath: directory.path + "/gc/10.99.14.100", contents: Data("live".utf8))
        FileManager.default.createFile(atPath: directory.path + "/gc/10.99.14.101", contents: Data("gone".utf8))

        let released = try ipam.releaseAll(except: [HostLocalAttachment(containerID: "live", ifName: "eth0")])

        #expect(Set(released.map(\.description)) == ["10.99.14.3", "10.99.14.4", "10.99.14.101"])
        #expect(directory.files(in: "gc") == ["10.99.14.100", "10.99.14.2", "last_reserved_ip.0", "lock"])
    }

    @Test func resultUsesConfigurationVersionAndResolvConf() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let resolvPath = directory.path + "/resolv.conf"
        let resolv = "# test\nnameserver 127.0.0.53\nnameserver ::1\ndomain example.test\nsearch a.test b.test\noptions ndots:2 edns0\n"
        FileManager.default.createFile(atPath: resolvPath, contents: Data(resolv.utf8))
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "dns", dataDir: directory.path, ipam: ["subnet": "10.99.10.0/24", "resolvConf": .string(resolvPath)],
            cniVersion: "0.4.0"))

        let result = try ipam.allocate(containerID: "a", ifName: "eth0")
        #expect(result.cniVersion == "0.4.0")
        #expect(result.dns == CNIResult.DNS(nameservers: ["127.0.0.53", "::1"], domain: "example.test",
                                            search: ["a.test", "b.test"], options: ["ndots:2", "edns0"]))
        let json = try JSONValue(parsing: result.encoded())
        #expect(json["ips"]?[0]?["version"] == "4")
    }

    @Test(arguments: [
        (#"{"subnet":"10.99.0.5/29"}"#, "invalid range set 0: Network has host bits set. For a subnet mask of length 29 the network address is 10.99.0.0"),
        (#"{"subnet":"10.99.0.0/31"}"#, "invalid range set 0: Network 10.99.0.0/31 too small to allocate from"),
        (#"{"subnet":"bogus"}"#, "invalid CIDR address: bogus in ipam.subnet"),
        (#"{}"#, "no IP ranges specified"),
        (#"{"ranges":[[]]}"#, "invalid range set 0: empty range set"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24"},{"subnet":"fd00::/64"}]]}"#, "invalid range set 0: mixed address families"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24"},{"subnet":"10.97.0.0/25"}]]}"#, "invalid range set 0: subnets 10.97.0.1-10.97.0.254 and 10.97.0.1-10.97.0.126 overlap"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24"}],[{"subnet":"10.97.0.0/25"}]]}"#, "range set 0 overlaps with 1"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24","rangeStart":"10.97.1.5"}]]}"#, "invalid range set 0: RangeStart 10.97.1.5 not in network 10.97.0.0/24"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24","rangeStart":"10.97.0.9","rangeEnd":"10.97.0.8"}]]}"#, "invalid range set 0: RangeStart 10.97.0.9 not in network 10.97.0.0/24"),
        (#"{"ranges":[[{"subnet":"10.97.0.0/24","rangeEnd":"10.97.1.8"}]]}"#, "invalid range set 0: RangeEnd 10.97.1.8 not in network 10.97.0.0/24"),
    ])
    func invalidConfigurations(ipam: String, message: String) throws {
        var section = try #require(try JSONValue(parsing: ipam).objectValue)
        section["type"] = "host-local"
        let config: JSONValue = ["cniVersion": "1.0.0", "name": "bad", "ipam": .object(section)]

        #expect(cniErrorMessage { _ = try HostLocalIPAM(networkConfig: config) } == message)
    }

    @Test func invalidNamesAreRejected() throws {
        let section: JSONValue = ["type": "host-local", "subnet": "10.99.11.0/24", "dataDir": "/nonexistent"]
        #expect(cniErrorMessage { _ = try HostLocalIPAM(networkConfig: ["name": "../etc", "ipam": section]) }
            == #"invalid characters found in network name "../etc""#)
        #expect(cniErrorMessage { _ = try HostLocalIPAM(networkConfig: ["name": "n"]) } == "IPAM config missing 'ipam' key")

        let ipam = try HostLocalIPAM(networkConfig: ["name": "n", "ipam": section])
        #expect(cniErrorMessage { _ = try ipam.allocate(containerID: "../x", ifName: "eth0") }
            == #"invalid characters in containerID "../x""#)
        #expect(cniErrorMessage { _ = try ipam.allocate(containerID: "a", ifName: "eth 0") }
            == #"interface name "eth 0" is invalid: it contains / or : or whitespace characters"#)
    }

    @Test func parallelAllocationsNeverShareAnAddress() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let ipam = try HostLocalIPAM(networkConfig: hostLocalConfig(
            name: "par", dataDir: directory.path, ipam: ["subnet": "10.99.12.0/24"]))
        let threads = 8
        let perThread = 40
        let collected = Collected()

        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                do {
                    let result = try ipam.allocate(containerID: "t\(thread)-\(index)", ifName: "eth0")
                    collected.append(addresses(result))
                } catch {
                    collected.fail("\(error)")
                }
            }
        }

        let (all, failures) = collected.snapshot()
        // 320 requests for the 253 addresses .2 to .254: 67 must fail with exhaustion.
        #expect(all.count == 253)
        #expect(Set(all).count == all.count)
        #expect(failures.count == 67)
        #expect(failures.allSatisfy { $0.contains("no IP addresses available in range set: 10.99.12.1-10.99.12.254") })
        #expect(directory.files(in: "par").count == all.count + 2)
    }
}

/// A lock-protected collector for results from many threads.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    private var failures: [String] = []

    func append(_ newValues: [String]) {
        lock.withLock { values += newValues }
    }

    func fail(_ message: String) {
        lock.withLock { failures.append(message) }
    }

    func snapshot() -> ([String], [String]) {
        lock.withLock { (values, failures) }
    }
}
