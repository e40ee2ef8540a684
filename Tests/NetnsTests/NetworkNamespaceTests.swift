import CLinux
import Foundation
import Glibc
import Netns
import Testing

/// Runs `ip` with `arguments` and returns its exit status.
@discardableResult
func runIP(_ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    process.arguments = arguments
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// A named namespace under /run/netns with a random suffix, deleted by `remove()`.
struct ScratchNamespace {
    let name: String
    var path: String { "/run/netns/\(name)" }

    init() throws {
        name = "hyns-\(UInt32.random(in: 0...UInt32.max))"
        let status = try runIP(["netns", "add", name])
        guard status == 0 else { throw NetnsError.notFound(path: "/run/netns/\(name)") }
    }

    func remove() { _ = try? runIP(["netns", "del", name]) }
}

/// Returns the inode of the network namespace of the calling thread.
func threadNamespaceInode() -> UInt64 {
    var st = stat()
    stat("/proc/thread-self/ns/net", &st)
    return UInt64(st.st_ino)
}

@Test func openMissingPathIsNotFound() {
    let path = "/run/netns/hydra-missing-\(UInt32.random(in: 0...UInt32.max))"
    #expect(throws: NetnsError.notFound(path: path)) {
        _ = try NetworkNamespace(path: path)
    }
}

/// Opens `path` and returns the error, or nil when opening succeeded.
func openError(_ path: String) -> NetnsError? {
    do {
        _ = try NetworkNamespace(path: path)
        return nil
    } catch {
        return error
    }
}

@Test func openRegularFileIsRejected() {
    guard case .notNetworkNamespace(let path, _)? = openError("/proc/self/status") else {
        Issue.record("opening /proc/self/status did not fail as notNetworkNamespace")
        return
    }
    #expect(path == "/proc/self/status")
}

@Test func openOtherNamespaceTypeIsRejected() {
    guard case .notNetworkNamespace(let path, let reason)? = openError("/proc/self/ns/uts") else {
        Issue.record("opening a UTS namespace did not fail as notNetworkNamespace")
        return
    }
    #expect(path == "/proc/self/ns/uts")
    #expect(reason.contains("CLONE_NEWNET"))
}

@Test func notFoundMessageNamesPath() {
    let error = NetnsError.notFound(path: "/run/netns/x")
    #expect(error.description == "network namespace \"/run/netns/x\" not found")
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func runEntersNamespaceAndReturns() throws {
    let scratch = try ScratchNamespace()
    defer { scratch.remove() }
    let namespace = try NetworkNamespace(path: scratch.path)
    let host = try NetworkNamespace(path: "/proc/self/ns/net")
    let executor = NamespaceExecutor(maxThreads: 1)

    let (inside, tid) = try executor.run(in: namespace) { (threadNamespaceInode(), hydra_gettid()) }
    #expect(inside == namespace.inode)
    #expect(inside != host.inode)

    // The worker thread is back in the host namespace once `run` returns.
    var st = stat()
    #expect(stat("/proc/self/task/\(tid)/ns/net", &st) == 0)
    #expect(UInt64(st.st_ino) == host.inode)
    // The calling thread never moved.
    #expect(threadNamespaceInode() == host.inode)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func runPropagatesClosureError() throws {
    struct Marker: Error {}
    let scratch = try ScratchNamespace()
    defer { scratch.remove() }
    let namespace = try NetworkNamespace(path: scratch.path)

    #expect(throws: Marker.self) {
        try namespace.run { throw Marker() }
    }
    // The executor still works after a failed closure.
    #expect(try namespace.run { threadNamespaceInode() } == namespace.inode)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func asyncRunUsesExecutorThread() async throws {
    let scratch = try ScratchNamespace()
    defer { scratch.remove() }
    let namespace = try NetworkNamespace(path: scratch.path)
    let callerInode = threadNamespaceInode()

    let inside = try await namespace.run { threadNamespaceInode() }
    #expect(inside == namespace.inode)
    #expect(threadNamespaceInode() == callerInode)
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func concurrentRunsLandInTheirNamespaces() async throws {
    let first = try ScratchNamespace()
    defer { first.remove() }
    let second = try ScratchNamespace()
    defer { second.remove() }
    let namespaces = [try NetworkNamespace(path: first.path), try NetworkNamespace(path: second.path)]

    try await withThrowingTaskGroup(of: Bool.self) { group in
        for round in 0..<64 {
            let namespace = namespaces[round % 2]
            group.addTask {
                try await namespace.run { threadNamespaceInode() } == namespace.inode
            }
        }
        for try await matched in group {
            #expect(matched)
        }
    }
}

@Test(.enabled(if: getuid() == 0, "needs root"))
func sysctlWritesInsideNamespace() throws {
    let scratch = try ScratchNamespace()
    defer { scratch.remove() }
    let namespace = try NetworkNamespace(path: scratch.path)
    let hostValue = Sysctl.read("net/ipv4/ip_forward")

    let inside = try namespace.run {
        try Sysctl.write("net.ipv4.ip_forward", "1")
        return Sysctl.read("net/ipv4/ip_forward")
    }
    #expect(inside == "1")
    #expect(Sysctl.read("net/ipv4/ip_forward") == hostValue)
}
