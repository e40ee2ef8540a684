import CNI
import Foundation
import Glibc
import HydraLog

/// Runs CNI plugin binaries the way libcni does: the plugin is looked up in
/// the plugin directories, gets the CNI_* environment and the network
/// configuration on stdin, and its stdout is a result or a CNI error.
///
/// The parent environment is passed on with every CNI_* variable removed
/// (see `environment(for:)`), so a CNI variable of the host process cannot
/// leak into a plugin's request.
public struct CNIExecutor: Sendable {
    /// Directories searched for plugin binaries, in order; also CNI_PATH.
    public var pluginDirectories: [String]
    private let logger: Logger

    public static let defaultPluginDirectories = ["/opt/cni/bin"]

    public init(pluginDirectories: [String] = CNIExecutor.defaultPluginDirectories,
                logger: Logger = Logger(component: "cniexec")) {
        self.pluginDirectories = pluginDirectories
        self.logger = logger
    }

    /// Returns the path of the first executable regular file named `type` in
    /// the plugin directories.
    public func findPlugin(_ type: String) throws(CNIExecError) -> String {
        guard !type.isEmpty, !type.contains("/"), type != ".", type != ".." else {
            throw .invalidPluginType(type)
        }
        for directory in pluginDirectories {
            let path = directory.hasSuffix("/") ? directory + type : directory + "/" + type
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if access(path, X_OK) == 0 { return path }
        }
        throw .pluginNotFound(type: type, directories: pluginDirectories)
    }

    /// Runs the plugin for `invocation` and returns its stdout. A non-zero
    /// exit becomes `.plugin` when stdout contains a CNI error object
    /// (`code`, `msg`, `details`), and `.pluginFailed` with stderr otherwise.
    /// `deadlineNanoseconds` is an absolute CLOCK_MONOTONIC time (0 for none,
    /// see `MonotonicClock.now()`), not a duration: the plugin's process
    /// group is killed when it passes, and a deadline already in the past
    /// fails at once without starting the plugin.
    public func execute(_ invocation: CNIInvocation, deadlineNanoseconds: Int64) throws(CNIExecError) -> Data {
        let path = try findPlugin(invocation.pluginType)
        let environment = self.environment(for: invocation)
        let started = MonotonicClock.now()
        // A deadline in the past is most often a relative duration passed by
        // mistake; fail without starting the plugin so the mistake shows.
        if deadlineNanoseconds != 0 && started >= deadlineNanoseconds {
            let error = CNIExecError.timedOut(path: path, command: invocation.command, afterMilliseconds: 0)
            logger.warning("CNI plugin not started: deadline already passed",
                           [("plugin", path), ("command", invocation.command)] + invocation.podLogFields
                            + [("deadlineNs", "\(deadlineNanoseconds)"), ("nowNs", "\(started)")])
            throw error
        }

        let output: PluginOutput
        do {
            output = try PluginProcess.run(path: path, command: invocation.command, environment: environment,
                                           input: invocation.stdinData, deadlineNanoseconds: deadlineNanoseconds)
        } catch {
            logger.warning("CNI plugin run failed", [("plugin", path), ("command", invocation.command)]
                           + invocation.podLogFields + [("error", "\(error)")])
            throw error
        }
        let elapsedMilliseconds = (MonotonicClock.now() - started) / 1_000_000
        logger.debug("CNI plugin finished", [("plugin", path), ("command", invocation.command)]
                     + invocation.podLogFields
                     + [("exitStatus", "\(output.exitStatus ?? -1)"), ("ms", "\(elapsedMilliseconds)")])

        if output.exitStatus == 0 { return output.stdout }

        let stderrText = String(decoding: output.stderr, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if !output.stdout.isEmpty, let pluginError = try? CNIError(parsing: output.stdout) {
            throw .plugin(path: path, error: pluginError)
        }
        let stdoutText = String(decoding: output.stdout, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        throw .pluginFailed(path: path, command: invocation.command, exitStatus: output.exitStatus,
                            signal: output.signal, stderr: stderrText, stdout: stdoutText)
    }

    /// Runs ADD and parses the result (any CNI version the CNI target reads).
    public func add(_ invocation: CNIInvocation, deadlineNanoseconds: Int64) throws(CNIExecError) -> CNIResult {
        var invocation = invocation
        invocation.command = "ADD"
        let output = try execute(invocation, deadlineNanoseconds: deadlineNanoseconds)
        do {
            return try CNIResult(parsing: output)
        } catch {
            throw .invalidOutput(path: (try? findPlugin(invocation.pluginType)) ?? invocation.pluginType,
                                 command: "ADD", reason: "\(error)")
        }
    }

    /// Runs DEL.
    public func delete(_ invocation: CNIInvocation, deadlineNanoseconds: Int64) throws(CNIExecError) {
        var invocation = invocation
        invocation.command = "DEL"
        _ = try execute(invocation, deadlineNanoseconds: deadlineNanoseconds)
    }

    /// Runs CHECK.
    public func check(_ invocation: CNIInvocation, deadlineNanoseconds: Int64) throws(CNIExecError) {
        var invocation = invocation
        invocation.command = "CHECK"
        _ = try execute(invocation, deadlineNanoseconds: deadlineNanoseconds)
    }

    /// Runs VERSION and returns the plugin's version information object
    /// (`cniVersion`, `supportedVersions`). The spec sends a config holding
    /// only `cniVersion` on stdin.
    public func version(pluginType: String, cniVersion: String = CNIVersion.current.description,
                        deadlineNanoseconds: Int64) throws(CNIExecError) -> JSONValue {
        let stdin = JSONValue.object(["cniVersion": .string(cniVersion)]).encoded()
        let invocation = CNIInvocation(command: "VERSION", pluginType: pluginType, stdinData: stdin)
        let output = try execute(invocation, deadlineNanoseconds: deadlineNanoseconds)
        let value: JSONValue
        do {
            value = try JSONValue(parsing: output)
        } catch {
            throw .invalidOutput(path: pluginType, command: "VERSION", reason: "\(error)")
        }
        guard value["supportedVersions"]?.arrayValue != nil else {
            throw .invalidOutput(path: pluginType, command: "VERSION",
                                 reason: "missing \"supportedVersions\" in \(value.encodedString())")
        }
        return value
    }

    /// Builds the plugin's environment: the parent's variables except CNI_*,
    /// then the six CNI variables, always set (empty when unused) as libcni does.
    func environment(for invocation: CNIInvocation) -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let variable = String(cString: pointer)
            if !variable.hasPrefix("CNI_") { result.append(variable) }
            entry += 1
        }
        result.append("CNI_COMMAND=\(invocation.command)")
        result.append("CNI_CONTAINERID=\(invocation.containerID)")
        result.append("CNI_NETNS=\(invocation.netns)")
        result.append("CNI_IFNAME=\(invocation.ifName)")
        result.append("CNI_ARGS=\(invocation.cniArgs)")
        result.append("CNI_PATH=\(pluginDirectories.joined(separator: ":"))")
        return result
    }
}
