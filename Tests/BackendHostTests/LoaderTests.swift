import BackendSDK
import CNI
import CNIExec
import Foundation
import HydraLog
import Testing
@testable import BackendHost

/// Creates a loader that discards its logs and keeps state under `directory`.
func makeLoader(_ directory: TemporaryDirectory, pluginDirectories: [String] = ["/usr/lib/cni"]) -> BackendLoader {
    BackendLoader(directory: directory.path, stateRoot: directory.path + "/state",
                  executor: CNIExecutor(pluginDirectories: pluginDirectories),
                  logger: Logger(component: "test", sink: LogSink(level: .error, write: { _ in })))
}

func probeRequest(mode: String, ifName: String = "net1", extra: [String: JSONValue] = [:]) -> AttachRequest {
    var config: [String: JSONValue] = ["cniVersion": "1.0.0", "name": "probe-net", "type": "probe", "mode": .string(mode)]
    config.merge(extra) { $1 }
    return AttachRequest(sandboxID: "sandbox-1", netns: "/var/run/netns/none", ifName: ifName,
                         networkName: "probe-net", config: .object(config))
}

@Suite struct LoaderTests {
    @Test func missingFileIsReported() throws {
        let directory = try TemporaryDirectory()
        let loader = makeLoader(directory)
        let path = "\(directory.path)/libhydra-backend-absent.so"
        #expect(throws: BackendLoadError.fileNotFound(path: path)) {
            try loader.loadOne(BackendSpec(name: "absent"))
        }
    }

    @Test func nonELFFileIsReported() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/libhydra-backend-text.so"
        try "this is not a library\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: BackendLoadError.notSharedObject(path: path, reason: "no ELF header")) {
            try makeLoader(directory).loadOne(BackendSpec(name: "text"))
        }
        // An ELF file that is not a shared object: an object file.
        let object = "\(directory.path)/probe.o"
        try probeBackendSource.write(toFile: "\(directory.path)/probe.c", atomically: true, encoding: .utf8)
        try runTool("/usr/bin/cc", ["-c", "-fPIC", "-I\(packageRoot)/Sources/BackendAPI/include",
                                    "-o", object, "\(directory.path)/probe.c"])
        #expect(throws: BackendLoadError.notSharedObject(path: object, reason: "ELF type 1 is not ET_DYN")) {
            try makeLoader(directory).loadOne(BackendSpec(name: "object", path: object))
        }
    }

    @Test func missingEntrySymbolIsReported() throws {
        let directory = try TemporaryDirectory()
        let path = try compileLibrary(probeBackendSource, name: "libhydra-backend-nosym.so", in: directory,
                                      extraArguments: ["-DNO_ENTRY"])
        #expect(throws: BackendLoadError.missingSymbol(path: path, symbol: "hydra_backend_entry")) {
            try makeLoader(directory).loadOne(BackendSpec(name: "nosym"))
        }
    }

    @Test func abiMismatchIsReported() throws {
        let directory = try TemporaryDirectory()
        let path = try compileLibrary(probeBackendSource, name: "libhydra-backend-future.so", in: directory,
                                      extraArguments: ["-DABI_VERSION=2"])
        do {
            _ = try makeLoader(directory).loadOne(BackendSpec(name: "future"))
            Issue.record("expected an ABI mismatch")
        } catch {
            #expect(error == .abiMismatch(path: path, found: 2, expected: 1))
            #expect(error.description.contains(path))
            #expect(error.description.contains("ABI 2"))
        }
    }

    @Test func initFailureCarriesBackendMessage() throws {
        let directory = try TemporaryDirectory()
        let path = try compileLibrary(probeBackendSource, name: "libhydra-backend-badinit.so", in: directory,
                                      extraArguments: ["-DINIT_CODE=7"])
        do {
            _ = try makeLoader(directory).loadOne(BackendSpec(name: "badinit"))
            Issue.record("expected init to fail")
        } catch {
            #expect(error == .initFailed(path: path, code: 7,
                                         message: "probe init failed on purpose: missing key \"master\""))
        }
    }

    @Test func invalidTableIsReported() throws {
        let directory = try TemporaryDirectory()
        let source = probeBackendSource.replacingOccurrences(of: ".check = probe_check,", with: ".check = NULL,")
        let path = try compileLibrary(source, name: "libhydra-backend-nocheck.so", in: directory,
                                      extraArguments: ["-Wno-unused-function"])
        #expect(throws: BackendLoadError.invalidTable(path: path, reason: "required functions are NULL: check")) {
            try makeLoader(directory).loadOne(BackendSpec(name: "nocheck"))
        }
    }

    @Test func optionalFailureKeepsOthersRequiredStops() throws {
        let directory = try TemporaryDirectory()
        _ = try compileLibrary(probeBackendSource, name: "libhydra-backend-probe.so", in: directory)
        _ = try compileLibrary(probeBackendSource, name: "libhydra-backend-future.so", in: directory,
                               extraArguments: ["-DABI_VERSION=2", "-DBACKEND_NAME=\"future\"", "-DBACKEND_TYPE=\"future\""])
        let loader = makeLoader(directory)

        let set = try loader.load([BackendSpec(name: "future"), BackendSpec(name: "probe")])
        #expect(set.backends.map(\.name) == ["probe"])
        #expect(set.failures.count == 1)
        #expect(set.failures.first?.path == "\(directory.path)/libhydra-backend-future.so")
        #expect(set.backend(forType: "probe")?.name == "probe")
        #expect(set.backend(forType: "future") == nil)
        set.shutdown()

        #expect(throws: BackendLoadError.abiMismatch(path: "\(directory.path)/libhydra-backend-future.so", found: 2, expected: 1)) {
            try loader.load([BackendSpec(name: "probe"), BackendSpec(name: "future", required: true)])
        }
    }

    @Test func duplicateTypeIsRejected() throws {
        let directory = try TemporaryDirectory()
        let first = try compileLibrary(probeBackendSource, name: "libhydra-backend-probe.so", in: directory)
        let second = try compileLibrary(probeBackendSource, name: "libhydra-backend-probe2.so", in: directory,
                                        extraArguments: ["-DBACKEND_NAME=\"probe2\""])
        let set = try makeLoader(directory).load([BackendSpec(name: "probe", path: first),
                                                  BackendSpec(name: "probe2", path: second)])
        defer { set.shutdown() }
        #expect(set.backends.map(\.name) == ["probe"])
        #expect(set.failures == [.duplicateType(path: second, type: "probe", servedBy: "probe")])
    }

    @Test func conventionPathUsesDirectory() throws {
        let directory = try TemporaryDirectory()
        let loader = makeLoader(directory)
        #expect(loader.libraryPath(for: BackendSpec(name: "bridge")) == "\(directory.path)/libhydra-backend-bridge.so")
        #expect(loader.libraryPath(for: BackendSpec(name: "bridge", path: "/opt/x.so")) == "/opt/x.so")
    }
}

@Suite struct LoadedBackendTests {
    func loadProbe(_ directory: TemporaryDirectory, pluginDirectories: [String] = ["/usr/lib/cni"]) throws -> LoadedBackend {
        _ = try compileLibrary(probeBackendSource, name: "libhydra-backend-probe.so", in: directory)
        return try makeLoader(directory, pluginDirectories: pluginDirectories).loadOne(BackendSpec(name: "probe"))
    }

    @Test func validResultIsParsed() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        let result = try await backend.attach(probeRequest(mode: "ok"), deadline: .after(seconds: 5))
        #expect(result.interfaces.map(\.name) == ["net1"])
        #expect(result.ips.first?.address == "10.1.2.3/24")
        #expect(FileManager.default.fileExists(atPath: directory.path + "/state/probe"))
    }

    @Test func invalidResultJSONIsAnError() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        do {
            _ = try await backend.attach(probeRequest(mode: "invalid-json"), deadline: .after(seconds: 5))
            Issue.record("expected an invalid result error")
        } catch {
            #expect(error.kind == .invalidResult)
            #expect(error.backend == "probe")
            #expect(error.cniError.code == 1001)
            #expect(error.description.contains("backend \"probe\" attach returned an invalid result"))
        }
    }

    @Test(arguments: [42 as UInt32, 5000, 1000])
    func unknownErrorCodeIsAnError(code: UInt32) async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        do {
            _ = try await backend.attach(probeRequest(mode: "code:\(code)"), deadline: .after(seconds: 5))
            Issue.record("expected an unknown error code")
        } catch {
            #expect(error.kind == .unknownErrorCode)
            #expect(error.code == code)
            #expect(error.message == "probe failed on purpose")
            #expect(error.cniError.code == 1002)
        }
    }

    @Test func allowedErrorCodeKeepsCode() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        do {
            _ = try await backend.attach(probeRequest(mode: "code:7"), deadline: .after(seconds: 5))
            Issue.record("expected the backend error")
        } catch {
            #expect(error.kind == .backendError)
            #expect(error.cniError.code == 7)
            #expect(error.description == "backend \"probe\" attach failed: probe failed on purpose (code 7)")
        }
    }

    @Test func overrunDeadlineFailsOnlyThatCall() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        // The probe sleeps 3 s, so a timeout error (and not success) shows
        // that the caller got its error at the deadline, before the call
        // returned. Elapsed time is not asserted: parallel tests that block
        // Swift concurrency threads can delay the resumption arbitrarily.
        do {
            _ = try await backend.attach(probeRequest(mode: "sleep:3000"), deadline: .after(seconds: 0.3))
            Issue.record("expected a timeout")
        } catch {
            #expect(error.kind == .deadlineExceeded)
            #expect(error.cniError.code == 1000)
            #expect(error.description.contains("backend \"probe\" attach timed out"))
        }

        // The host stays usable while the late call is still running.
        let result = try await backend.attach(probeRequest(mode: "ok", ifName: "net2"), deadline: .after(seconds: 5))
        #expect(result.interfaces.map(\.name) == ["net2"])
    }

    @Test(.serialized, arguments: [true, false])
    func threadSafetyFlagControlsConcurrency(threadSafe: Bool) async throws {
        let directory = try TemporaryDirectory()
        _ = try compileLibrary(probeBackendSource, name: "libhydra-backend-probe.so", in: directory,
                               extraArguments: threadSafe ? [] : ["-DFLAGS=0"])
        let backend = try makeLoader(directory).loadOne(BackendSpec(name: "probe"))
        defer { backend.shutdown() }
        #expect(backend.library.isThreadSafe == threadSafe)

        let started = Date()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    _ = try? await backend.attach(probeRequest(mode: "sleep:3000", ifName: "net\(index)"),
                                                  deadline: .after(seconds: 20))
                }
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        if threadSafe {
            // Three serialized 3 s calls need at least 9 s; parallel ones take
            // about 3 s, which leaves 6 s for tasks that start late on a busy
            // machine.
            #expect(elapsed < 9, "thread-safe calls took \(elapsed) s, as if serialized")
        } else {
            #expect(elapsed >= 9, "serialized calls took only \(elapsed) s")
        }
    }

    @Test func expiredDeadlineSkipsCall() async throws {
        let directory = try TemporaryDirectory()
        let backend = try loadProbe(directory)
        defer { backend.shutdown() }
        do {
            _ = try await backend.attach(probeRequest(mode: "ok"),
                                         deadline: Deadline(monotonicNanoseconds: Deadline.now() - 1))
            Issue.record("expected a deadline error")
        } catch {
            #expect(error.kind == .deadlineExceeded)
            #expect(error.message == "the deadline passed before the call started")
        }
    }

    @Test func execServiceRunsPlugin() async throws {
        let directory = try TemporaryDirectory()
        let plugins = try TemporaryDirectory("hydra-backendhost-plugins")
        let script = """
            #!/bin/sh
            cat >/dev/null
            echo "{\\"cniVersion\\":\\"1.0.0\\",\\"interfaces\\":[{\\"name\\":\\"$CNI_IFNAME\\"}],\\"ips\\":[]}"
            """
        try script.write(toFile: plugins.path + "/fakeipam", atomically: true, encoding: .utf8)
        chmod(plugins.path + "/fakeipam", 0o755)
        let backend = try loadProbe(directory, pluginDirectories: [plugins.path])
        defer { backend.shutdown() }

        let result = try await backend.attach(probeRequest(mode: "exec", ifName: "net7", extra: ["plugin": "fakeipam"]),
                                              deadline: .after(seconds: 5))
        #expect(result.interfaces.map(\.name) == ["net7"])

        do {
            _ = try await backend.attach(probeRequest(mode: "exec", extra: ["plugin": "absent"]), deadline: .after(seconds: 5))
            Issue.record("expected plugin not found")
        } catch {
            // 1003 is a host code, which the backend passes on unchanged.
            #expect(error.code == 1003)
            #expect(error.message.contains("failed to find plugin \"absent\""))
        }
    }
}
