import CNI
import Foundation
import IPAM

/// A temporary data directory removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/hydra-ipam-test.XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw CNIError(code: 5, msg: "mkdtemp failed", details: String(cString: strerror(errno)))
        }
        path = String(cString: pointer)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Returns the names of the files in `subdirectory`, sorted.
    func files(in subdirectory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/" + subdirectory)) ?? []).sorted()
    }

    /// Returns the raw bytes of a file under the directory, or nil.
    func contents(_ relativePath: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path + "/" + relativePath).map(Array.init)
    }
}

/// Returns a random lower-case suffix for unique names.
func randomSuffix(_ count: Int = 6) -> String {
    String((0..<count).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
}

/// Builds a host-local network configuration.
func hostLocalConfig(name: String, dataDir: String, ipam: [String: JSONValue],
                     cniVersion: String = "1.0.0", extra: [String: JSONValue] = [:]) -> JSONValue {
    var ipamObject = ipam
    ipamObject["type"] = "host-local"
    ipamObject["dataDir"] = .string(dataDir)
    var object: [String: JSONValue] = ["cniVersion": .string(cniVersion), "name": .string(name),
                                       "type": "bridge", "ipam": .object(ipamObject)]
    for (key, value) in extra { object[key] = value }
    return .object(object)
}

/// Returns the addresses (without prefix) of a result's ips.
func addresses(_ result: CNIResult) -> [String] {
    result.ips.map { String($0.address.split(separator: "/")[0]) }
}

/// Returns the message of a thrown CNIError, or nil when `body` did not throw one.
func cniErrorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as CNIError {
        return error.msg
    } catch {
        return "unexpected error type: \(error)"
    }
}

/// Runs a command to completion and returns its exit status and standard output.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         input: Data = Data()) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = FileHandle.nullDevice
    try process.run()
    stdin.fileHandleForWriting.write(input)
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

/// A network namespace created with `ip netns add` for CNI_NETNS, deleted by `delete()`.
struct TestNetns {
    let name: String
    var path: String { "/var/run/netns/" + name }

    init() throws {
        name = "hyipam-" + randomSuffix()
        let (status, _) = try run("/usr/sbin/ip", ["netns", "add", name])
        guard status == 0 else { throw CNIError(code: 5, msg: "ip netns add \(name) failed with status \(status)") }
    }

    func delete() {
        _ = try? run("/usr/sbin/ip", ["netns", "del", name])
    }
}

/// Executes the reference host-local plugin the way a CNI runtime does.
struct ReferenceHostLocal {
    static let path = "/usr/lib/cni/host-local"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: path) }

    let netnsPath: String

    /// Runs one command. Returns the parsed result for a successful ADD, and
    /// throws the plugin's CNIError on failure.
    @discardableResult
    func run(_ command: String, containerID: String, ifName: String, config: JSONValue,
             cniArgs: String = "") throws -> CNIResult? {
        let environment = [
            "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netnsPath,
            "CNI_IFNAME": ifName, "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": cniArgs,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let (status, output) = try IPAMTests.run(Self.path, [], environment: environment, input: config.encoded())
        guard status == 0 else { throw try CNIError(parsing: output) }
        return command == "ADD" ? try CNIResult(parsing: output) : nil
    }
}
