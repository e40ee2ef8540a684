import Foundation
import Netlink
import Netns

/// The namespace a backend treats as the host: the process's own network
/// namespace in production, or a test namespace so that tests never touch
/// the machine's real bridges, sysctls or iptables rules.
public struct HostNamespace: Sendable {
    /// The namespace to enter, or nil for the process's own namespace.
    public let namespace: NetworkNamespace?

    /// The process's own namespace.
    public static let process = HostNamespace(namespace: nil)

    public init(namespace: NetworkNamespace?) {
        self.namespace = namespace
    }

    /// Runs `body` in the host namespace: on the calling thread when that is
    /// the process's namespace, otherwise on a namespace executor thread.
    public func run<T>(_ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        return try namespace.run(body)
    }

    /// Creates a netlink socket bound to the host namespace.
    public func makeSocket() throws -> NetlinkSocket {
        try run { try NetlinkSocket() }
    }

    /// Runs a program in the host namespace, with `input` on its standard
    /// input when given, and returns its standard output.
    /// For a test namespace the program runs under `nsenter --net=PATH`.
    /// Throws `CommandError` with the exit status and standard error on failure.
    @discardableResult
    public func runCommand(_ path: String, _ arguments: [String], input: String? = nil) throws -> String {
        var executable = path
        var fullArguments = arguments
        if let namespace {
            executable = "/usr/bin/nsenter"
            fullArguments = ["--net=\(namespace.path)", path] + arguments
        }
        let output = try Subprocess.run(executable, fullArguments, input: input.map { Array($0.utf8) })
        guard output.status == 0 else {
            throw CommandError(command: ([path] + arguments).joined(separator: " "), status: output.status,
                               standardError: output.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output.standardOutput
    }
}

/// A program run by `HostNamespace.runCommand` exited with a non-zero status.
public struct CommandError: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var standardError: String

    public init(command: String, status: Int32, standardError: String) {
        self.command = command
        self.status = status
        self.standardError = standardError
    }

    public var description: String {
        "\(command) failed with exit status \(status)" + (standardError.isEmpty ? "" : ": \(standardError)")
    }
}
