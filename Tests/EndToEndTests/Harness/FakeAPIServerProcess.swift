import Foundation

extension EndToEnd {
    /// Starts `hydra-fake-apiserver` on a free loopback port with `pods`
    /// (names in namespace `default`, with this test's UIDs) and returns its
    /// base URL.
    func startFakeAPIServer(pods: [String]) async throws -> String {
        let seed: [String: Any] = ["pods": pods.map { name in
            ["metadata": ["name": name, "namespace": "default", "uid": "uid-\(token)-\(name)"]]
        }]
        let seedPath = "\(directory)/apiserver-seed.json"
        try JSONSerialization.data(withJSONObject: seed).write(to: URL(fileURLWithPath: seedPath))
        let urlFile = "\(directory)/apiserver-url"
        let process = try ChildProcess(binaries.fakeAPIServer,
                                       ["--listen", "127.0.0.1:0", "--seed", seedPath, "--print-url-file", urlFile],
                                       outputPath: "\(directory)/apiserver.out", errorPath: "\(directory)/apiserver.err")
        track(process)
        guard await eventually(timeout: .seconds(10), { FileManager.default.fileExists(atPath: urlFile) }),
              let url = try? String(contentsOfFile: urlFile, encoding: .utf8) else {
            throw HarnessError("hydra-fake-apiserver did not start: \(process.errors)")
        }
        return url.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes the fake API server refuse connections for `seconds` (its `POST /debug/down`).
    func takeDown(apiServer url: String, seconds: Int) async throws {
        try await runTool("/usr/bin/curl", ["-sf", "-X", "POST", "\(url)/debug/down?seconds=\(seconds)"], in: directory)
    }

    /// Fetches the pod's annotations from the fake API server; returns nil
    /// while it refuses connections.
    func podAnnotations(apiServer url: String, pod: String) async -> [String: String]? {
        guard let json = try? await runTool("/usr/bin/curl", ["-sf", "\(url)/api/v1/namespaces/default/pods/\(pod)"],
                                            in: directory),
              let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let metadata = object["metadata"] as? [String: Any] else { return nil }
        return metadata["annotations"] as? [String: String] ?? [:]
    }

    /// Fetches and decodes a pod's network-status annotation; nil when absent.
    func networkStatus(apiServer url: String, pod: String) async -> [[String: Any]]? {
        guard let text = await podAnnotations(apiServer: url, pod: pod)?["k8s.v1.cni.cncf.io/network-status"] else {
            return nil
        }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]
    }
}
