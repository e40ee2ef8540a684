import Foundation
import Testing

/// The Dockerfile cannot be built here (no Docker engine), so these tests
/// parse it and check what the image must contain.
@Suite struct DockerfileTests {
    /// One instruction: keyword and arguments, continuation lines joined.
    struct Instruction {
        var keyword: String
        var arguments: String
    }

    let instructions: [Instruction]

    init() throws {
        var joined: [String] = []
        var pending = ""
        for line in try readRepositoryFile("Dockerfile").split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty && (trimmed.isEmpty || trimmed.hasPrefix("#")) { continue }
            if trimmed.hasSuffix("\\") {
                pending += trimmed.dropLast() + " "
            } else {
                joined.append(pending + trimmed)
                pending = ""
            }
        }
        instructions = joined.map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return Instruction(keyword: String(parts[0]).uppercased(),
                               arguments: parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// Backend products that ship: every `hydra-backend-*` library in
    /// Package.swift except the ones only tests load.
    func shippedBackends() throws -> [String] {
        let package = try readRepositoryFile("Package.swift")
        let testOnly: Set<String> = ["swifttest", "dummy"]
        var names: [String] = []
        var rest = package[...]
        while let range = rest.range(of: ".library(name: \"hydra-backend-") {
            let after = rest[range.upperBound...]
            guard let quote = after.firstIndex(of: "\"") else { break }
            let name = String(after[..<quote])
            if !testOnly.contains(name) { names.append(name) }
            rest = after[quote...]
        }
        return names
    }

    @Test func buildsOnOfficialSwiftImages() throws {
        let stages = instructions.filter { $0.keyword == "FROM" }
        #expect(stages.count >= 2, "expected a build stage and a runtime stage")
        for stage in stages {
            #expect(stage.arguments.hasPrefix("swift:"), "\(stage.arguments) is not an official Swift image")
        }
        let final = try #require(stages.last)
        #expect(final.arguments.contains("slim"))
        let finalIndex = try #require(instructions.lastIndex { $0.keyword == "FROM" })
        let copies = instructions[finalIndex...].filter { $0.keyword == "COPY" }
        #expect(copies.contains { $0.arguments.hasPrefix("--from=build") })
    }

    @Test func installsEveryBackendInOneDirectory() throws {
        let backends = try shippedBackends()
        #expect(backends.contains("bridge"))
        #expect(backends.contains("macvlan"))
        let runs = instructions.filter { $0.keyword == "RUN" }.map(\.arguments).joined(separator: "\n")
        for backend in backends {
            #expect(runs.contains("--product hydra-backend-\(backend)"), "the image does not build \(backend)")
            #expect(runs.contains("libhydra-backend-\(backend).so /out/usr/lib/hydra/backends/"),
                    "the image does not install \(backend) into /usr/lib/hydra/backends")
        }
        #expect(runs.contains("--product hydra "))
        #expect(runs.contains("/out/usr/bin/hydra"))
    }

    @Test func defaultCommandMatchesDaemonSet() throws {
        let entrypoint = try #require(instructions.last { $0.keyword == "ENTRYPOINT" })
        #expect(entrypoint.arguments == "[\"/usr/bin/hydra\"]")
        let command = try #require(instructions.last { $0.keyword == "CMD" })
        let arguments = try JSONDecoder().decode([String].self, from: Data(command.arguments.utf8))
        let daemonSet = try manifest("base/daemonset.yaml", kind: "DaemonSet")
        let container = try #require(daemonSet["spec"]?["template"]?["spec"]?["containers"]?[0])
        let daemonArguments = container["args"]?.items.compactMap(\.string) ?? []
        #expect(Array(daemonArguments.prefix(3)) == arguments)
    }
}
