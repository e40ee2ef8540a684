import CNI
import CNIExec
import Foundation
import Glibc

/// Picks a chain's CNI version from its `cniVersions` list: the highest
/// version that Hydra reads and writes and that every executed plugin
/// lists in the output of its VERSION command. Native backends accept every version Hydra
/// supports, because the host converts their results.
///
/// VERSION outputs are remembered per plugin file, keyed by path, size and
/// modification time, so an attach runs VERSION only the first time a
/// binary is seen or after it changed.
final class VersionNegotiator: @unchecked Sendable {
    // Sendable: `answers` is only touched under `lock`.
    private let lock = NSLock()
    private var answers: [String: [String]] = [:]
    private let executor: CNIExecutor

    init(executor: CNIExecutor) {
        self.executor = executor
    }

    /// Returns the version to run `chain` with: `cniVersion` without
    /// `cniVersions`, else the negotiated one. Throws code 1
    /// (incompatible CNI version) when no listed version suits every plugin.
    func version(for chain: PluginChain, executedTypes: [String], deadlineNanoseconds: Int64) throws -> String {
        guard let allowed = chain.cniVersions else { return chain.cniVersion }
        var candidates = allowed.filter(CNIVersion.isSupported)
            .sorted { (CNIVersion($0) ?? .v0_3_0) > (CNIVersion($1) ?? .v0_3_0) }
        var rejections: [String] = []
        for type in Set(executedTypes).sorted() {
            let supported = try supportedVersions(of: type, deadlineNanoseconds: deadlineNanoseconds)
            let before = candidates
            candidates = candidates.filter(supported.contains)
            if candidates.count < before.count {
                rejections.append("\(type) supports [\(supported.joined(separator: ", "))]")
            }
        }
        guard let chosen = candidates.first else {
            throw CNIError(code: CNIError.incompatibleCNIVersion,
                           msg: "network \"\(chain.name)\": no version in cniVersions [\(allowed.joined(separator: ", "))] is supported by Hydra and every plugin",
                           details: (["Hydra supports [\(CNIVersion.supportedVersions.joined(separator: ", "))]"] + rejections)
                               .joined(separator: "; "))
        }
        return chosen
    }

    /// Returns the plugin's `supportedVersions`, from memory when the binary
    /// did not change since it was asked.
    func supportedVersions(of type: String, deadlineNanoseconds: Int64) throws -> [String] {
        let path = try executor.findPlugin(type)
        var info = stat()
        stat(path, &info)
        let key = "\(path)|\(info.st_size)|\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        lock.lock()
        let known = answers[key]
        lock.unlock()
        if let known { return known }

        let answer = try executor.version(pluginType: type, deadlineNanoseconds: deadlineNanoseconds)
        let versions = answer["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        lock.lock()
        answers[key] = versions
        lock.unlock()
        return versions
    }
}
