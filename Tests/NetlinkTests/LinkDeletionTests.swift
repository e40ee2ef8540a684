import CNI
import Foundation
import Glibc
import Netlink
import Netns
import NetworkSetup
import Testing

@Suite("Link deletion that returns at the removal")
struct LinkDeletionTests {
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func watchSeesOnlyDeletedLink() throws {
        let ns = try TestNamespace()
        try ns.addLink("w0")
        try ns.addLink("w1")
        let deleted = try ns.socket.link(named: "w0").index
        let remaining = try ns.socket.link(named: "w1").index
        let watch = try ns.namespace.run { try LinkRemovalWatch() }

        try ns.socket.deleteLink(index: deleted)

        #expect(watch.hasSeenRemoval(of: deleted))
        #expect(!watch.hasSeenRemoval(of: remaining))
        #expect(!watch.overflowed)
    }

    /// After `wait` both veth ends are gone from their namespaces, and both
    /// names can be taken again at once.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func podVethAndPeerGoneAfterWait() throws {
        let host = try TestNamespace()
        let pod = try TestNamespace()
        try host.socket.addVethPair(name: "hv0", peerName: "net1", peerNamespaceFD: pod.namespace.fileDescriptor)
        let podIndex = try pod.socket.link(named: "net1").index
        try pod.socket.setUp(index: podIndex)
        try pod.socket.addAddress(IPNetwork("10.45.0.2/24")!, index: podIndex)

        let deletion = try #require(try PodInterfaceDeletion(ifName: "net1", in: pod.namespace,
                                                             host: HostNamespace(namespace: host.namespace),
                                                             readAddresses: true))
        #expect(deletion.addresses == [IPNetwork("10.45.0.2/24")!])
        try deletion.wait(deadline: .after(seconds: 10))

        #expect(try pod.socket.linkIfPresent(named: "net1") == nil)
        #expect(try host.socket.linkIfPresent(named: "hv0") == nil)
        #expect(pod.ipLink("net1") == nil)
        #expect(host.ipLink("hv0") == nil)
        try host.socket.addVethPair(name: "hv0", peerName: "net1", peerNamespaceFD: pod.namespace.fileDescriptor)
        #expect(pod.ipLink("net1") != nil)
    }

    @Test(.enabled(if: getuid() == 0, "needs root"))
    func missingInterfaceGivesNil() throws {
        let host = try TestNamespace()
        let pod = try TestNamespace()
        let deletion = try PodInterfaceDeletion(ifName: "net1", in: pod.namespace,
                                                host: HostNamespace(namespace: host.namespace), readAddresses: false)
        #expect(deletion == nil)
    }

    /// A link someone else deleted first counts as removed.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func linkAlreadyGoneIsNotAnError() throws {
        let ns = try TestNamespace()
        try ns.addLink("g0")
        let index = try ns.socket.link(named: "g0").index
        try ns.socket.deleteLink(index: index)
        let watch = try ns.namespace.run { try LinkRemovalWatch() }

        let deletion = try LinkDeletion(index: index, socket: ns.socket)
        try deletion.waitForRemoval([(watch, index)], deadline: .after(seconds: 10))
    }

    /// The loopback device cannot be deleted (EOPNOTSUPP): the error of the
    /// request reaches the caller.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func deletionErrorIsThrown() throws {
        let ns = try TestNamespace()
        let loopback = try ns.socket.link(named: "lo").index
        let watch = try ns.namespace.run { try LinkRemovalWatch() }

        let deletion = try LinkDeletion(index: loopback, socket: ns.socket)
        #expect(throws: NetlinkError.self) {
            try deletion.waitForRemoval([(watch, loopback)], deadline: .after(seconds: 10))
        }
        #expect(ns.ipLink("lo") != nil)
    }

    /// A watch whose buffer overflowed reports it, and the wait still ends
    /// with the link gone.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func overflowedWatchStillEnds() throws {
        let ns = try TestNamespace()
        let watch = try ns.namespace.run { try LinkRemovalWatch(receiveBufferBytes: 1) }
        for number in 0..<16 { try ns.addLink("o\(number)") }
        let index = try ns.socket.link(named: "o0").index

        let deletion = try LinkDeletion(index: index, socket: ns.socket)
        try deletion.waitForRemoval([(watch, index)], deadline: .after(seconds: 10))

        #expect(watch.overflowed)
        #expect(try ns.socket.linkIfPresent(named: "o0") == nil)
        #expect(ns.ipLink("o0") == nil)
    }
}
