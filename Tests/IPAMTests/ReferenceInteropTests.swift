import CNI
import Foundation
import IPAM
import Testing

/// Hydra's host-local and the reference plugin (/usr/lib/cni/host-local from
/// Debian's containernetworking-plugins) sharing one data directory.
@Suite(.enabled(if: getuid() == 0 && ReferenceHostLocal.isAvailable, "needs root and /usr/lib/cni/host-local"))
struct ReferenceInteropTests {
    @Test func addressesTakenByOneAreRefusedByTheOther() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let netns = try TestNetns()
        defer { netns.delete() }
        let reference = ReferenceHostLocal(netnsPath: netns.path)
        let config = hostLocalConfig(name: "interop", dataDir: directory.path, ipam: ["subnet": "10.98.0.0/24"])
        let hydra = try HostLocalIPAM(networkConfig: config)

        #expect(addresses(try hydra.allocate(containerID: "hydra1", ifName: "eth0")) == ["10.98.0.2"])
        let referenceResult = try #require(try reference.run("ADD", containerID: "ref1", ifName: "eth0", config: config))
        #expect(addresses(referenceResult) == ["10.98.0.3"])
        #expect(addresses(try hydra.allocate(containerID: "hydra2", ifName: "eth0")) == ["10.98.0.4"])

        // Each refuses a specific address the other holds.
        let referenceRefusal = cniErrorMessage {
            try reference.run("ADD", containerID: "ref2", ifName: "eth0", config: config, cniArgs: "IP=10.98.0.2")
        }
        #expect(referenceRefusal == "failed to allocate for range 0: requested IP address 10.98.0.2 is not available in range set 10.98.0.1-10.98.0.254")
        let hydraRefusal = cniErrorMessage {
            _ = try HostLocalIPAM(networkConfig: config, cniArgs: "IP=10.98.0.3").allocate(containerID: "hydra3", ifName: "eth0")
        }
        #expect(hydraRefusal == "failed to allocate for range 0: requested IP address 10.98.0.3 is not available in range set 10.98.0.1-10.98.0.254")

        // Both refuse a second ADD of an attachment the other made.
        #expect(cniErrorMessage { try reference.run("ADD", containerID: "hydra1", ifName: "eth0", config: config) }
            == "failed to allocate for range 0: 10.98.0.2 has been allocated to hydra1, duplicate allocation is not allowed")
        #expect(cniErrorMessage { _ = try hydra.allocate(containerID: "ref1", ifName: "eth0") }
            == "failed to allocate for range 0: 10.98.0.3 has been allocated to ref1, duplicate allocation is not allowed")
    }

    @Test func releaseByEitherIsSeenByTheOther() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let netns = try TestNetns()
        defer { netns.delete() }
        let reference = ReferenceHostLocal(netnsPath: netns.path)
        let config = hostLocalConfig(name: "release", dataDir: directory.path, ipam: ["subnet": "10.98.1.0/24"])
        let hydra = try HostLocalIPAM(networkConfig: config)

        _ = try hydra.allocate(containerID: "hydra1", ifName: "eth0")
        try reference.run("ADD", containerID: "ref1", ifName: "eth1", config: config)
        try reference.run("CHECK", containerID: "hydra1", ifName: "eth0", config: config)
        try hydra.check(containerID: "ref1", ifName: "eth1")

        try reference.run("DEL", containerID: "hydra1", ifName: "eth0", config: config)
        try hydra.release(containerID: "ref1", ifName: "eth1")
        #expect(directory.files(in: "release") == ["last_reserved_ip.0", "lock"])
        #expect(cniErrorMessage { try hydra.check(containerID: "hydra1", ifName: "eth0") }
            == "host-local: Failed to find address added by container hydra1")
        #expect(cniErrorMessage { try reference.run("CHECK", containerID: "ref1", ifName: "eth1", config: config) }
            == "host-local: Failed to find address added by container ref1")

        // DEL of something already released succeeds for both.
        try reference.run("DEL", containerID: "hydra1", ifName: "eth0", config: config)
        try hydra.release(containerID: "ref1", ifName: "eth1")

        // Both continue after the last reserved address, whoever wrote it.
        #expect(addresses(try #require(try reference.run("ADD", containerID: "ref2", ifName: "eth0", config: config)))
            == ["10.98.1.4"])
        #expect(addresses(try hydra.allocate(containerID: "hydra2", ifName: "eth0")) == ["10.98.1.5"])
    }

    @Test func filesOnDiskAreByteIdentical() throws {
        let netns = try TestNetns()
        defer { netns.delete() }
        let reference = ReferenceHostLocal(netnsPath: netns.path)
        let hydraDirectory = try TemporaryDirectory()
        defer { hydraDirectory.cleanUp() }
        let referenceDirectory = try TemporaryDirectory()
        defer { referenceDirectory.cleanUp() }
        let ipamSection: [String: JSONValue] = ["ranges": [[["subnet": "10.98.2.0/24"]], [["subnet": "fd00:98:2::/64"]]]]
        let hydraConfig = hostLocalConfig(name: "same", dataDir: hydraDirectory.path, ipam: ipamSection)
        let referenceConfig = hostLocalConfig(name: "same", dataDir: referenceDirectory.path, ipam: ipamSection)

        let hydraResult = try HostLocalIPAM(networkConfig: hydraConfig).allocate(containerID: "cid-1", ifName: "net1")
        let referenceResult = try #require(
            try reference.run("ADD", containerID: "cid-1", ifName: "net1", config: referenceConfig))

        #expect(hydraResult == referenceResult)
        let hydraFiles = hydraDirectory.files(in: "same")
        #expect(hydraFiles == referenceDirectory.files(in: "same"))
        #expect(hydraFiles == ["10.98.2.2", "fd00:98:2::2", "last_reserved_ip.0", "last_reserved_ip.1", "lock"])
        for name in hydraFiles {
            #expect(hydraDirectory.contents("same/" + name) == referenceDirectory.contents("same/" + name), "file \(name)")
            var hydraInfo = stat()
            var referenceInfo = stat()
            #expect(stat(hydraDirectory.path + "/same/" + name, &hydraInfo) == 0)
            #expect(stat(referenceDirectory.path + "/same/" + name, &referenceInfo) == 0)
            #expect(hydraInfo.st_mode == referenceInfo.st_mode, "mode of \(name)")
        }
    }

    @Test func bothHonourTheSameLockFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let netns = try TestNetns()
        defer { netns.delete() }
        let reference = ReferenceHostLocal(netnsPath: netns.path)
        let config = hostLocalConfig(name: "locked", dataDir: directory.path, ipam: ["subnet": "10.98.3.0/24"])
        let hydra = try HostLocalIPAM(networkConfig: config)
        // Create the network directory and its lock file.
        _ = try hydra.allocate(containerID: "first", ifName: "eth0")

        // Hold the lock from the test, as a third party would.
        let lockDescriptor = open(directory.path + "/locked/lock", O_RDONLY)
        #expect(lockDescriptor >= 0)
        defer { close(lockDescriptor) }
        #expect(flock(lockDescriptor, LOCK_EX) == 0)

        let finished = Collected()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            do {
                finished.append(addresses(try hydra.allocate(containerID: "hydra", ifName: "eth0")))
            } catch {
                finished.fail("hydra: \(error)")
            }
        }
        DispatchQueue.global().async(group: group) {
            do {
                let result = try reference.run("ADD", containerID: "ref", ifName: "eth0", config: config)
                finished.append(result.map(addresses) ?? [])
            } catch {
                finished.fail("reference: \(error)")
            }
        }

        // Neither may reserve while the lock is held.
        Thread.sleep(forTimeInterval: 1.0)
        #expect(finished.snapshot().0.isEmpty)
        #expect(directory.files(in: "locked") == ["10.98.3.2", "last_reserved_ip.0", "lock"])

        #expect(flock(lockDescriptor, LOCK_UN) == 0)
        #expect(group.wait(timeout: .now() + 10) == .success)
        let (taken, failures) = finished.snapshot()
        #expect(failures.isEmpty)
        #expect(Set(taken) == ["10.98.3.3", "10.98.3.4"])
    }

    @Test func concurrentHydraThreadsAndReferenceProcesses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let netns = try TestNetns()
        defer { netns.delete() }
        let reference = ReferenceHostLocal(netnsPath: netns.path)
        let config = hostLocalConfig(name: "mixed", dataDir: directory.path, ipam: ["subnet": "10.98.4.0/24"])
        let hydra = try HostLocalIPAM(networkConfig: config)
        let collected = Collected()

        // Even workers are Hydra threads, odd ones exec the reference plugin.
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            for index in 0..<10 {
                let containerID = "w\(worker)-\(index)"
                do {
                    if worker % 2 == 0 {
                        collected.append(addresses(try hydra.allocate(containerID: containerID, ifName: "eth0")))
                    } else {
                        let result = try reference.run("ADD", containerID: containerID, ifName: "eth0", config: config)
                        collected.append(result.map(addresses) ?? [])
                    }
                } catch {
                    collected.fail("\(containerID): \(error)")
                }
            }
        }

        let (taken, failures) = collected.snapshot()
        #expect(failures.isEmpty)
        #expect(taken.count == 60)
        #expect(Set(taken).count == 60)
        #expect(directory.files(in: "mixed").count == 62)
    }
}
