import Foundation
import Testing

/// `hydra explain` run as a program against a configuration file: what it
/// prints for valid and invalid selection annotations.
@Suite struct ExplainTests {
    static let configuration = """
    {"networks": [
      {"name": "cbr0", "interface": "hydra", "default": {"namespaces": ["*"], "labels": {}},
       "config": {"cniVersion": "1.0.0", "type": "bridge", "bridge": "unused0"}},
      {"name": "storage",
       "config": {"cniVersion": "1.0.0", "name": "storage",
                  "plugins": [{"type": "macvlan", "master": "unused1"}, {"type": "tuning"}]}},
      {"name": "fast", "interface": "fast0", "default": {"namespaces": ["databases"], "labels": {"tier": "db"}},
       "config": {"cniVersion": "1.0.0", "type": "macvlan", "master": "unused2"}}
    ]}
    """

    /// Runs `hydra explain` with `arguments` after `--config FILE`.
    func explain(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let directory = try binaryDirectory(requiring: ["hydra"])
        return try await withTemporaryDirectory { temporary in
            let file = temporary + "/hydra.json"
            try Self.configuration.write(toFile: file, atomically: true, encoding: .utf8)
            return try await run(directory + "/hydra", ["explain", "--config", file] + arguments, in: temporary)
        }
    }

    @Test func defaultNetworkOnly() async throws {
        let result = try await explain(["--namespace", "default"])
        #expect(result.status == 0)
        #expect(result.output == "network=cbr0 interface=hydra types=bridge\n")
    }

    @Test func listAnnotationAddsNetwork() async throws {
        let result = try await explain(["--namespace", "default", "--annotation", "storage@eth9"])
        #expect(result.status == 0)
        #expect(result.output == "network=cbr0 interface=hydra types=bridge\nnetwork=storage interface=eth9 types=macvlan,tuning\n")
    }

    @Test func jsonAnnotationAddsNetwork() async throws {
        let result = try await explain(["--namespace", "default", "--annotation", #"[{"name":"storage","interface":"net7"}]"#])
        #expect(result.status == 0)
        #expect(result.output.contains("network=storage interface=net7 types=macvlan,tuning\n"))
    }

    @Test func labelsSelectDefaultNetwork() async throws {
        let matching = try await explain(["--namespace", "databases", "--labels", "tier=db,app=pg"])
        #expect(matching.output.contains("network=fast interface=fast0 types=macvlan\n"))
        let otherLabels = try await explain(["--namespace", "databases", "--labels", "tier=web"])
        #expect(!otherLabels.output.contains("network=fast"))
    }

    @Test func hostNetworkPodIsLeftAlone() async throws {
        let result = try await explain(["--namespace", "default", "--host-network"])
        #expect(result.status == 0)
        #expect(result.output == "no networks: the pod would be left alone\n")
    }

    @Test func unknownNetworkIsNamed() async throws {
        let result = try await explain(["--namespace", "default", "--annotation", "nosuch"])
        #expect(result.status == 1)
        #expect(result.output.hasPrefix("error: "))
        #expect(result.output.contains("network \"nosuch\" not found"))
    }

    @Test func malformedJSONIsReported() async throws {
        let result = try await explain(["--namespace", "default", "--annotation", #"[{"name": "#])
        #expect(result.status == 1)
        #expect(result.output.contains("malformed JSON"))
        #expect(!result.output.contains("network="))
    }

    @Test func interfaceClashIsReported() async throws {
        let result = try await explain(["--namespace", "default", "--annotation", "storage@eth0"])
        #expect(result.status == 1)
        #expect(result.output.contains("interface \"eth0\" is already used by the default network"))
    }

    @Test func missingNamespaceIsUsageError() async throws {
        let result = try await explain([])
        #expect(result.status == 2)
        #expect(result.errors.contains("--namespace"))
    }
}
