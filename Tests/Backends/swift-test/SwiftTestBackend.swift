import BackendSDK
import CNI
import Foundation
import Netns

/// A Swift backend for the tests of the loader and of `hydra backend check`.
/// It serves type `swifttest`: attach creates a dummy interface named
/// `ifName` in the pod namespace with the config's optional `address`, and
/// records the attachment in its state directory so GC can find it. The
/// config's `kind` ("dummy" by default, or "bridge"/"ifb") picks another link
/// type for kernels without the dummy driver.
///
/// The backend configuration (not the network config) can switch on
/// deliberate misbehaviour, so the checker's tests can show each check fails:
/// - `"skipInterface": true`: attach returns a result but creates nothing.
/// - `"failSecondDetach": true`: detach fails when the interface is already gone.
/// - `"ignoreGC": true`: GC releases nothing.
/// - `"attachDelaySeconds": N`: attach sleeps N seconds first (deadline tests).
/// - `"attachErrorCode": N`: attach fails with code N.
/// - `"initError": "text"`: init fails with that message.
public final class SwiftTestBackend: Backend {
    public static let name = "swifttest"
    public static let version = "1.0.0"
    public static let types = ["swifttest"]

    private let host: HostServices
    private let skipInterface: Bool
    private let failSecondDetach: Bool
    private let ignoreGC: Bool
    private let attachDelaySeconds: Double
    private let attachErrorCode: UInt?

    public init(configuration: JSONValue, host: HostServices) throws {
        if let message = configuration["initError"]?.stringValue {
            throw CNIError(code: CNIError.invalidNetworkConfig, msg: message)
        }
        self.host = host
        skipInterface = configuration["skipInterface"]?.boolValue ?? false
        failSecondDetach = configuration["failSecondDetach"]?.boolValue ?? false
        ignoreGC = configuration["ignoreGC"]?.boolValue ?? false
        attachDelaySeconds = configuration["attachDelaySeconds"]?.doubleValue ?? 0
        attachErrorCode = configuration["attachErrorCode"]?.int64Value.map { UInt($0) }
        host.log(.info, "swifttest backend started, state directory \(host.stateDirectory)")
    }

    public func attach(_ request: AttachRequest, deadline: Deadline) throws -> CNIResult {
        if attachDelaySeconds > 0 { Thread.sleep(forTimeInterval: attachDelaySeconds) }
        if let attachErrorCode {
            throw CNIError(code: attachErrorCode, msg: "attach failed on purpose with code \(attachErrorCode)")
        }
        let namespace = try openNamespace(request.netns)
        let address = request.config["address"]?.stringValue
        let kind = try linkKind(request)

        if !skipInterface {
            try runIP(in: namespace.path, ["link", "add", request.ifName, "type", kind])
            do {
                if let address { try runIP(in: namespace.path, ["addr", "add", address, "dev", request.ifName]) }
                try runIP(in: namespace.path, ["link", "set", request.ifName, "up"])
            } catch {
                try? runIP(in: namespace.path, ["link", "del", request.ifName])
                throw error
            }
        }
        try writeRecord(for: request)
        host.log(.info, "attached \(request.ifName) in \(request.netns)", sandboxID: request.sandboxID)

        var result = CNIResult(cniVersion: request.cniVersion)
        result.interfaces = [CNIResult.Interface(name: request.ifName, sandbox: request.netns)]
        if let address { result.ips = [CNIResult.IPConfig(address: address, interface: 0)] }
        return result
    }

    public func detach(_ request: AttachRequest, deadline: Deadline) throws {
        defer { try? FileManager.default.removeItem(atPath: recordPath(request.sandboxID, request.ifName)) }
        guard let namespace = try? NetworkNamespace(path: request.netns) else { return }
        do {
            try runIP(in: namespace.path, ["link", "del", request.ifName])
        } catch {
            if failSecondDetach { throw error }
        }
    }

    public func check(_ request: AttachRequest, deadline: Deadline) throws {
        let namespace = try openNamespace(request.netns)
        do {
            try runIP(in: namespace.path, ["link", "show", "dev", request.ifName])
        } catch {
            throw CNIError(code: 100, msg: "interface \"\(request.ifName)\" not found in \(request.netns)")
        }
    }

    public func garbageCollect(_ request: GCRequest, deadline: Deadline) throws {
        guard !ignoreGC else { return }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: host.stateDirectory)) ?? []
        for name in names where name.hasSuffix(".attachment") {
            let path = host.stateDirectory + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                  let record = try? JSONValue(parsing: data),
                  let sandboxID = record["sandboxID"]?.stringValue,
                  let ifName = record["ifName"]?.stringValue,
                  let netns = record["netns"]?.stringValue else { continue }
            if request.contains(sandboxID: sandboxID, ifName: ifName) { continue }
            if (try? NetworkNamespace(path: netns)) != nil {
                try? runIP(in: netns, ["link", "del", ifName])
            }
            try? FileManager.default.removeItem(atPath: path)
            host.log(.info, "garbage-collected \(ifName) in \(netns)", sandboxID: sandboxID)
        }
    }

    // MARK: - Helpers

    private func linkKind(_ request: AttachRequest) throws -> String {
        let kind = request.config["kind"]?.stringValue ?? "dummy"
        guard ["dummy", "bridge", "ifb"].contains(kind) else {
            throw CNIError(code: CNIError.invalidNetworkConfig,
                           msg: "invalid config: \"kind\" \"\(kind)\" must be \"dummy\", \"bridge\" or \"ifb\"")
        }
        return kind
    }

    private func openNamespace(_ path: String) throws -> NetworkNamespace {
        do {
            return try NetworkNamespace(path: path)
        } catch {
            throw CNIError(code: CNIError.invalidNetNS, msg: "failed to open network namespace \"\(path)\": \(error)")
        }
    }

    private func recordPath(_ sandboxID: String, _ ifName: String) -> String {
        "\(host.stateDirectory)/\(sandboxID)-\(ifName).attachment"
    }

    private func writeRecord(for request: AttachRequest) throws {
        let record: JSONValue = .object([
            "sandboxID": .string(request.sandboxID),
            "ifName": .string(request.ifName),
            "netns": .string(request.netns),
        ])
        let path = recordPath(request.sandboxID, request.ifName)
        guard FileManager.default.createFile(atPath: path, contents: record.encoded()) else {
            throw CNIError(code: CNIError.ioFailure, msg: "failed to write attachment record \(path)")
        }
    }

    /// Runs `ip ARGS` inside the namespace at `netnsPath` through nsenter(1),
    /// so that no thread of the host process changes namespace.
    private func runIP(in netnsPath: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=\(netnsPath)", "ip"] + arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let errorOutput = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errorOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw CNIError(code: 101, msg: "ip \(arguments.joined(separator: " ")) failed in \(netnsPath): \(text)")
        }
    }
}

@_cdecl("hydra_backend_entry")
public func hydraBackendEntry() -> UnsafeRawPointer {
    BackendExport.entry(for: SwiftTestBackend.self)
}
