import CNI
import Foundation
import Glibc

/// One entry of the result cache, in libcni's `cniCacheV1` format
/// (pkg/libcni/api.go, type cachedInfo).
struct CachedAttachment: Sendable, Equatable {
    var containerID: String
    var networkName: String
    var ifName: String
    var netns: String
    /// The network configuration as the runtime passed it; base64 in the
    /// file, as Go encodes a []byte.
    var config: Data
    var cniArgs: [(key: String, value: String)]
    var capabilityArgs: [String: JSONValue]
    /// The chain's final result, as written to the file.
    var result: JSONValue?

    static func == (lhs: CachedAttachment, rhs: CachedAttachment) -> Bool {
        lhs.jsonValue() == rhs.jsonValue()
    }

    static let kind = "cniCacheV1"

    func jsonValue() -> JSONValue {
        var object: [String: JSONValue] = [
            "kind": .string(Self.kind),
            "containerId": .string(containerID),
            "config": .string(config.base64EncodedString()),
            "ifName": .string(ifName),
            "networkName": .string(networkName),
        ]
        if !netns.isEmpty { object["netns"] = .string(netns) }
        if !cniArgs.isEmpty { object["cniArgs"] = .array(cniArgs.map { .array([.string($0.key), .string($0.value)]) }) }
        if !capabilityArgs.isEmpty { object["capabilityArgs"] = .object(capabilityArgs) }
        if let result { object["result"] = result }
        return .object(object)
    }

    /// Decodes an entry; throws a description of the first invalid field.
    init(json value: JSONValue) throws(ResultCacheError) {
        guard value["kind"]?.stringValue == Self.kind else {
            throw .invalid("\"kind\" is \(value["kind"]?.encodedString() ?? "missing"), expected \"\(Self.kind)\"")
        }
        guard let containerID = value["containerId"]?.stringValue,
              let ifName = value["ifName"]?.stringValue,
              let networkName = value["networkName"]?.stringValue
        else {
            throw .invalid("missing \"containerId\", \"ifName\" or \"networkName\"")
        }
        let configText = value["config"]?.stringValue ?? ""
        guard let config = Data(base64Encoded: configText) else {
            throw .invalid("\"config\" is not base64")
        }
        var arguments: [(key: String, value: String)] = []
        for pair in value["cniArgs"]?.arrayValue ?? [] {
            guard let key = pair[0]?.stringValue, let argument = pair[1]?.stringValue else {
                throw .invalid("\"cniArgs\" entry \(pair.encodedString()) is not a [key, value] pair")
            }
            arguments.append((key: key, value: argument))
        }
        self.containerID = containerID
        self.networkName = networkName
        self.ifName = ifName
        self.netns = value["netns"]?.stringValue ?? ""
        self.config = config
        self.cniArgs = arguments
        self.capabilityArgs = value["capabilityArgs"]?.objectValue ?? [:]
        self.result = value["result"]
    }

    init(containerID: String, networkName: String, ifName: String, netns: String, config: Data,
         cniArgs: [(key: String, value: String)], capabilityArgs: [String: JSONValue], result: JSONValue?) {
        self.containerID = containerID
        self.networkName = networkName
        self.ifName = ifName
        self.netns = netns
        self.config = config
        self.cniArgs = cniArgs
        self.capabilityArgs = capabilityArgs
        self.result = result
    }
}

/// The reason a cache entry could not be used.
enum ResultCacheError: Error, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(String)
    case writeFailed(path: String, reason: String)

    var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read cached result \(path): \(reason)"
        case .invalid(let reason): return "invalid cached result: \(reason)"
        case .writeFailed(let path, let reason): return "failed to write cached result \(path): \(reason)"
        }
    }
}

/// The result cache in libcni's layout: one file per attachment at
/// `<directory>/results/<network>-<containerID>-<ifName>`, mode 0600.
///
/// Hydra keeps its own directory because the default CNI, which libcni
/// runs with /var/lib/cni, caches under the same sandbox id.
struct ResultCache: Sendable {
    let directory: String

    var resultsDirectory: String { directory + "/results" }

    /// Returns the entry's path. A "/" in a name would leave the results directory,
    /// so it is replaced by "_" (libcni joins the names unchanged).
    func path(network: String, containerID: String, ifName: String) -> String {
        let name = [network, containerID, ifName].map { $0.replacingOccurrences(of: "/", with: "_") }
            .joined(separator: "-")
        return resultsDirectory + "/" + name
    }

    /// Reads an entry. Returns nil when the file does not exist.
    func read(network: String, containerID: String, ifName: String) throws(ResultCacheError) -> CachedAttachment? {
        let path = path(network: network, containerID: containerID, ifName: ifName)
        return try read(path: path)
    }

    func read(path: String) throws(ResultCacheError) -> CachedAttachment? {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return nil
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw .unreadable(path: path, reason: data.isEmpty ? "the file is empty" : "\(error)")
        }
        do {
            return try CachedAttachment(json: value)
        } catch {
            throw .unreadable(path: path, reason: error.description)
        }
    }

    /// Writes an entry through a temporary file and rename(2), so a crash
    /// leaves either the old or the new entry.
    func write(_ entry: CachedAttachment) throws(ResultCacheError) {
        let path = path(network: entry.networkName, containerID: entry.containerID, ifName: entry.ifName)
        do {
            try FileManager.default.createDirectory(atPath: resultsDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let temporary = path + ".tmp"
            let data = entry.jsonValue().encoded()
            guard FileManager.default.createFile(atPath: temporary, contents: data,
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw ResultCacheError.writeFailed(path: temporary, reason: String(cString: strerror(errno)))
            }
            guard rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw ResultCacheError.writeFailed(path: path, reason: "rename: \(reason)")
            }
        } catch let error as ResultCacheError {
            throw error
        } catch {
            throw .writeFailed(path: path, reason: "\(error)")
        }
    }

    /// Removes an entry; a missing file is not an error.
    func remove(network: String, containerID: String, ifName: String) {
        unlink(path(network: network, containerID: containerID, ifName: ifName))
    }

    /// Reads every entry of `network`. Unreadable files are returned as
    /// errors with their paths, so that GC can log them and go on.
    func entries(network: String) -> (entries: [CachedAttachment], failures: [ResultCacheError]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: resultsDirectory)) ?? []
        var entries: [CachedAttachment] = []
        var failures: [ResultCacheError] = []
        let prefix = network.replacingOccurrences(of: "/", with: "_") + "-"
        for name in names.sorted() where name.hasPrefix(prefix) && !name.hasSuffix(".tmp") {
            do {
                if let entry = try read(path: resultsDirectory + "/" + name), entry.networkName == network {
                    entries.append(entry)
                }
            } catch {
                failures.append(error)
            }
        }
        return (entries, failures)
    }
}
