import Foundation
import Orchestrator
import Testing

@Suite struct OverlayTests {
    static let overlays = ["bridge", "macvlan", "flannel"]

    @Test(arguments: ["base"] + overlays.map { "overlays/" + $0 })
    func kustomizationReferencesExistingFiles(directory: String) throws {
        let kustomization = try manifest(directory + "/kustomization.yaml", kind: "Kustomization")
        let resources = kustomization["resources"]?.items.compactMap(\.string) ?? []
        let patches = kustomization["patches"]?.items.compactMap { $0["path"]?.string } ?? []
        #expect(!resources.isEmpty)
        var referenced: Set<String> = ["kustomization.yaml"]
        for entry in resources + patches {
            let path = repositoryRoot + "/deploy/" + directory + "/" + entry
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), "\(directory): \(entry) is missing")
            if !isDirectory.boolValue { referenced.insert(entry) }
        }
        // A manifest in the directory that no kustomization lists would never be applied.
        let files = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/deploy/" + directory)
            .filter { $0.hasSuffix(".yaml") }
        #expect(Set(files) == referenced)
    }

    @Test(arguments: ["base"] + overlays.map { "overlays/" + $0 })
    func configurationParses(directory: String) throws {
        _ = try configuration(inConfigMap: directory + "/configmap.yaml")
    }

    @Test(arguments: overlays)
    func overlayLoadsItsBackendRequired(backend: String) throws {
        let configuration = try configuration(inConfigMap: "overlays/\(backend)/configmap.yaml")
        let load = try #require(configuration.backends.load.first { $0.name == backend })
        #expect(load.required)
        #expect(!configuration.networks.isEmpty)
        for network in configuration.networks {
            #expect(network.config["type"]?.stringValue == backend, "network \(network.name) is not served by \(backend)")
        }
        #expect(configuration.kubernetes.enabled)
    }

    @Test func flannelReachesEtcdThroughItsService() throws {
        let configuration = try configuration(inConfigMap: "overlays/flannel/configmap.yaml")
        let load = try #require(configuration.backends.load.first { $0.name == "flannel" })
        let service = try manifest("overlays/flannel/etcd-service.yaml", kind: "Service")
        let endpoints = try manifest("overlays/flannel/etcd-service.yaml", kind: "Endpoints")
        let serviceName = try #require(service["metadata"]?["name"]?.string)
        let namespace = try #require(service["metadata"]?["namespace"]?.string)
        let port = try #require(service["spec"]?["ports"]?[0]?["port"]?.string)
        #expect(endpoints["metadata"]?["name"]?.string == serviceName)
        #expect(!(endpoints["subsets"]?[0]?["addresses"]?.items.isEmpty ?? true))

        let urls = load.config["etcdEndpoints"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(urls == ["https://\(serviceName).\(namespace).svc:\(port)"])
    }

    @Test func flannelCertificatesComeFromTheSecret() throws {
        let configuration = try configuration(inConfigMap: "overlays/flannel/configmap.yaml")
        let load = try #require(configuration.backends.load.first { $0.name == "flannel" })
        let secret = try manifest("overlays/flannel/etcd-client-secret.yaml", kind: "Secret")
        let patch = try manifest("overlays/flannel/daemonset.yaml", kind: "DaemonSet")
        let pod = try #require(patch["spec"]?["template"]?["spec"])
        let volume = try #require(pod["volumes"]?.items.first { $0["secret"] != nil })
        #expect(volume["secret"]?["secretName"] == secret["metadata"]?["name"])
        let mount = try #require(pod["containers"]?[0]?["volumeMounts"]?.items.first { $0["name"] == volume["name"] })
        let mountPath = try #require(mount["mountPath"]?.string)

        let secretKeys = Set(secret["data"]?.keys ?? [])
        for option in ["etcdCAFile", "etcdCertFile", "etcdKeyFile"] {
            let file = try #require(load.config[option]?.stringValue, "flannel backend has no \(option)")
            #expect((file as NSString).deletingLastPathComponent == mountPath, "\(option) is outside the Secret mount")
            #expect(secretKeys.contains((file as NSString).lastPathComponent), "\(option) names a key the Secret lacks")
        }
        // The subnet file lives in the host directory the base DaemonSet mounts.
        let subnetFile = try #require(load.config["subnetFile"]?.stringValue)
        #expect(requiredHostPaths.contains((subnetFile as NSString).deletingLastPathComponent))
        // The patch names the base container, so kustomize merges rather than adds one.
        #expect(pod["containers"]?[0]?["name"]?.string == "hydra")
    }
}

@Suite struct RuntimeSnippetTests {
    /// `key = "Ns"` in a TOML snippet, as seconds.
    func seconds(_ key: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix(key + " ") {
            let value = line.split(separator: "=").last?.trimmingCharacters(in: .whitespaces) ?? ""
            return Int(value.trimmingCharacters(in: CharacterSet(charactersIn: "\"s")))
        }
        return nil
    }

    @Test func containerdEnablesNRI() throws {
        let text = try readRepositoryFile("deploy/runtime/containerd-nri.toml")
        #expect(text.contains("[plugins.\"io.containerd.nri.v1.nri\"]"))
        #expect(text.contains("disable = false"))
        #expect(text.contains("socket_path = \"/var/run/nri/nri.sock\""))
        // containerd's default request timeout is 2 s.
        #expect((seconds("plugin_request_timeout", in: text) ?? 0) > 2)
    }

    @Test func crioEnablesNRI() throws {
        let text = try readRepositoryFile("deploy/runtime/crio-nri.conf")
        #expect(text.contains("[crio.nri]"))
        #expect(text.contains("enable_nri = true"))
        #expect(text.contains("nri_listen = \"/var/run/nri/nri.sock\""))
        #expect((seconds("nri_plugin_request_timeout", in: text) ?? 0) > 2)
    }
}
