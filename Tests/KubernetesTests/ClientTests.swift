import FakeAPIServerKit
import Foundation
import Testing
@testable import Kubernetes

@Suite("KubernetesClient against the fake API server")
struct ClientTests {
    @Test("getPod returns metadata and UID")
    func getPod() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web", annotations: ["a": "1"])

        let pod = try await client.getPod(namespace: "ns1", name: "web")

        #expect(pod.metadata.uid == uid)
        #expect(pod.metadata.name == "web")
        #expect(pod.metadata.namespace == "ns1")
        #expect(pod.metadata.annotations == ["a": "1"])
        let requests = server.receivedRequests()
        #expect(requests.count == 1)
        #expect(requests.first?.authorization == "Bearer test-token")
    }

    @Test("getPod of a missing pod is notFound")
    func getPodNotFound() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }

        do {
            _ = try await client.getPod(namespace: "ns1", name: "missing")
            Issue.record("expected notFound")
        } catch let error as KubernetesError {
            #expect(error.isNotFound)
            guard case .notFound(_, let status) = error else { return }
            #expect(status.reason == "NotFound")
            #expect(status.message == "pods \"missing\" not found")
        }
    }

    @Test("patch merges and removes annotations")
    func patchAnnotations() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web", annotations: ["keep": "1", "drop": "2"])

        let patched = try await client.patchPodAnnotations(namespace: "ns1", name: "web", uid: uid,
                                                           annotations: ["new": "[{\"name\":\"x\"}]", "drop": nil])

        let expected = ["keep": "1", "new": "[{\"name\":\"x\"}]"]
        #expect(patched.metadata.annotations == expected)
        #expect(server.podAnnotations(namespace: "ns1", name: "web") == expected)
        let patch = try #require(server.receivedRequests().last)
        #expect(patch.method == "PATCH")
        #expect(patch.contentType == "application/merge-patch+json")
        #expect(patch.body?["metadata"]?["uid"]?.stringValue == uid)
        #expect(patch.body?["metadata"]?["annotations"]?["drop"] == .null)
    }

    @Test("patch with another UID is a conflict")
    func patchUIDConflict() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")

        do {
            _ = try await client.patchPodAnnotations(namespace: "ns1", name: "web", uid: "other-uid",
                                                     annotations: ["a": "b"])
            Issue.record("expected a conflict")
        } catch let error as KubernetesError {
            #expect(error.isConflict)
            #expect(error.httpStatus == 409)
        }
        #expect(server.podAnnotations(namespace: "ns1", name: "web").isEmpty)
    }

    @Test("createEvent posts a core/v1 Event")
    func createEvent() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let uid = try server.createPod(namespace: "ns1", name: "web")
        let first = Date(timeIntervalSince1970: 1_700_000_000)

        try await client.createEvent(PodEvent(podNamespace: "ns1", podName: "web", podUID: uid, type: .warning,
                                              reason: "AttachFailed", message: "network \"blue\" failed",
                                              node: "node-1", count: 2, firstTimestamp: first))

        let event = try #require(server.createdEvents().first)
        #expect(event["kind"]?.stringValue == "Event")
        #expect(event["reason"]?.stringValue == "AttachFailed")
        #expect(event["message"]?.stringValue == "network \"blue\" failed")
        #expect(event["type"]?.stringValue == "Warning")
        #expect(event["count"] == .int(2))
        #expect(event["involvedObject"]?["uid"]?.stringValue == uid)
        #expect(event["involvedObject"]?["kind"]?.stringValue == "Pod")
        #expect(event["involvedObject"]?["name"]?.stringValue == "web")
        #expect(event["source"]?["component"]?.stringValue == "hydra")
        #expect(event["source"]?["host"]?.stringValue == "node-1")
        #expect(event["reportingComponent"]?.stringValue == "hydra")
        #expect(event["reportingInstance"]?.stringValue == "node-1")
        #expect(event["firstTimestamp"]?.stringValue == "2023-11-14T22:13:20Z")
        #expect(event["lastTimestamp"]?.stringValue == "2023-11-14T22:13:20Z")
        #expect(event["metadata"]?["name"]?.stringValue?.hasPrefix("web.") == true)
    }

    @Test("event sender posts in the background")
    func eventSender() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let sender = PodEventSender(client: client, logger: testLogger("events-test"))
        defer { sender.shutdown() }

        for reason in ["First", "Second"] {
            sender.send(PodEvent(podNamespace: "ns1", podName: "web", podUID: "uid-1", type: .normal,
                                 reason: reason, message: "m"))
        }

        #expect(await waitUntil { server.createdEvents().count == 2 })
        #expect(server.createdEvents().compactMap { $0["reason"]?.stringValue } == ["First", "Second"])
        #expect(sender.discardedEvents == 0)
    }

    @Test("NAD get and list, namespaced and all")
    func networkAttachmentDefinitions() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        let config = #"{"cniVersion":"1.0.0","type":"bridge","bridge":"br-test"}"#
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: config)
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "green", config: "{}")
        try server.putNetworkAttachmentDefinition(namespace: "ns2", name: "red", config: "{}")

        let blue = try await client.getNetworkAttachmentDefinition(namespace: "ns1", name: "blue")
        #expect(blue.spec?.config == config)
        #expect(blue.metadata.name == "blue")

        let namespaced = try await client.listNetworkAttachmentDefinitions(namespace: "ns1")
        #expect(namespaced.items.compactMap(\.metadata.name) == ["blue", "green"])
        #expect(namespaced.metadata.resourceVersion != nil)

        let all = try await client.listNetworkAttachmentDefinitions(namespace: nil)
        #expect(all.items.count == 3)

        await #expect(throws: KubernetesError.self) {
            _ = try await client.getNetworkAttachmentDefinition(namespace: "ns2", name: "blue")
        }
    }

    @Test("watch streams existing and new NADs")
    func watchNetworkAttachmentDefinitions() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: "{}")

        let stream = client.watchNetworkAttachmentDefinitions(namespace: "ns1", resourceVersion: nil)
        var iterator = stream.makeAsyncIterator()
        guard case .added(let first)? = try await iterator.next() else {
            Issue.record("expected ADDED for the existing object")
            return
        }
        #expect(first.metadata.name == "blue")

        try server.putNetworkAttachmentDefinition(namespace: "ns2", name: "other", config: "{}")
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: #"{"type":"x"}"#)
        server.deleteNetworkAttachmentDefinition(namespace: "ns1", name: "blue")

        guard case .modified(let modified)? = try await iterator.next() else {
            Issue.record("expected MODIFIED")
            return
        }
        #expect(modified.spec?.config == #"{"type":"x"}"#)
        guard case .deleted(let deleted)? = try await iterator.next() else {
            Issue.record("expected DELETED")
            return
        }
        #expect(deleted.metadata.name == "blue")
    }

    @Test("watch from a compacted version gets 410")
    func watchExpired() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: "{}")
        try server.putNetworkAttachmentDefinition(namespace: "ns1", name: "blue", config: "{}")
        server.compactWatchHistory()

        var events: [WatchEvent<NetworkAttachmentDefinition>] = []
        for try await event in client.watchNetworkAttachmentDefinitions(namespace: "ns1", resourceVersion: "1") {
            events.append(event)
        }

        #expect(events.count == 1)
        guard case .error(let status)? = events.first else {
            Issue.record("expected an ERROR event")
            return
        }
        #expect(status.code == 410)
        #expect(status.reason == "Expired")
    }

    @Test("5xx and 429 are unavailable")
    func unavailableStatuses() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")

        for code in [500, 503, 429] {
            server.addFault(FaultRule(method: "GET", action: .status(code: code), count: 1))
            do {
                _ = try await client.getPod(namespace: "ns1", name: "web")
                Issue.record("expected HTTP \(code) to fail")
            } catch let error as KubernetesError {
                #expect(error.isUnavailable, "HTTP \(code)")
                #expect(error.httpStatus == code)
            }
        }
        let pod = try await client.getPod(namespace: "ns1", name: "web")
        #expect(pod.metadata.name == "web")
    }

    @Test("closed connection and refused connection are transport errors")
    func transportErrors() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")

        server.addFault(FaultRule(action: .close, count: 1))
        do {
            _ = try await client.getPod(namespace: "ns1", name: "web")
            Issue.record("expected a transport error")
        } catch let error as KubernetesError {
            guard case .transport = error else {
                Issue.record("expected transport, got \(error)")
                return
            }
            #expect(error.isUnavailable)
        }

        try server.setDown(true)
        do {
            _ = try await client.getPod(namespace: "ns1", name: "web")
            Issue.record("expected connection refused")
        } catch let error as KubernetesError {
            guard case .transport(_, let code, _) = error else {
                Issue.record("expected transport, got \(error)")
                return
            }
            #expect(code == 7, "CURLE_COULDNT_CONNECT")
        }
        try server.setDown(false)
        _ = try await client.getPod(namespace: "ns1", name: "web")
    }

    @Test("request timeout bounds a slow answer")
    func requestTimeout() async throws {
        let (server, client) = try makeServerAndClient()
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")
        server.addFault(FaultRule(method: "GET", action: .delay(seconds: 2), count: 1))

        let start = Date()
        do {
            _ = try await client.getPod(namespace: "ns1", name: "web", timeout: .milliseconds(300))
            Issue.record("expected a timeout")
        } catch let error as KubernetesError {
            guard case .transport(_, let code, _) = error else {
                Issue.record("expected transport, got \(error)")
                return
            }
            #expect(code == 28, "CURLE_OPERATION_TIMEDOUT")
        }
        #expect(Date().timeIntervalSince(start) < 1.5)
    }

    @Test("rotated token file is read again after 401")
    func tokenRotation() async throws {
        let directory = try TemporaryDirectory("kube-token")
        defer { directory.remove() }
        let tokenPath = directory.path + "/token"
        try Data("first-token\n".utf8).write(to: URL(fileURLWithPath: tokenPath))

        let (server, client) = try makeServerAndClient(token: .file(tokenPath))
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")
        server.requireToken("first-token")
        _ = try await client.getPod(namespace: "ns1", name: "web")

        // Rotate the way the kubelet does: write a new file and rename it over the old one.
        try Data("second-token\n".utf8).write(to: URL(fileURLWithPath: tokenPath + ".new"))
        #expect(rename(tokenPath + ".new", tokenPath) == 0)
        server.requireToken("second-token")
        _ = try await client.getPod(namespace: "ns1", name: "web")

        let authorizations = server.receivedRequests().map { $0.authorization ?? "" }
        #expect(authorizations.first == "Bearer first-token")
        #expect(authorizations.last == "Bearer second-token")
        #expect(server.receivedRequests().last?.status == 200)
    }

    @Test("401 with an unchanged token is rejected")
    func unauthorized() async throws {
        let (server, client) = try makeServerAndClient(token: .value("wrong"))
        defer { server.stop() }
        try server.createPod(namespace: "ns1", name: "web")
        server.requireToken("right")

        do {
            _ = try await client.getPod(namespace: "ns1", name: "web")
            Issue.record("expected 401")
        } catch let error as KubernetesError {
            #expect(error.httpStatus == 401)
            #expect(!error.isUnavailable)
            #expect(!error.description.contains("wrong"), "the token must not appear in errors")
        }
    }
}

@Suite("ClientConfiguration")
struct ClientConfigurationTests {
    @Test("in-cluster reads env and service account")
    func inCluster() throws {
        let directory = try TemporaryDirectory("kube-sa")
        defer { directory.remove() }
        try Data("tok\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/token"))
        try Data("PEM".utf8).write(to: URL(fileURLWithPath: directory.path + "/ca.crt"))
        try Data("hydra-system\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/namespace"))

        let configuration = try ClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"],
            directory: directory.path)
        #expect(configuration.serverURL == "https://127.0.0.1:6443")
        #expect(configuration.caFile == directory.path + "/ca.crt")
        #expect(configuration.namespace == "hydra-system")
        guard case .file(let tokenPath) = configuration.token else {
            Issue.record("expected a token file")
            return
        }
        #expect(tokenPath == directory.path + "/token")

        let ipv6 = try ClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "::1", "KUBERNETES_SERVICE_PORT": "443"],
            directory: directory.path)
        #expect(ipv6.serverURL == "https://[::1]:443")
    }

    @Test("in-cluster fails without env or files")
    func inClusterMissing() throws {
        let directory = try TemporaryDirectory("kube-sa")
        defer { directory.remove() }
        #expect(throws: KubernetesError.self) {
            _ = try ClientConfiguration.inCluster(environment: [:], directory: directory.path)
        }
        #expect(throws: KubernetesError.self) {
            _ = try ClientConfiguration.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                directory: directory.path)
        }
        #expect(throws: KubernetesError.self) {
            _ = try ClientConfiguration.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "http"],
                directory: directory.path)
        }
    }

    @Test("resolve picks explicit, then service account")
    func resolve() throws {
        let directory = try TemporaryDirectory("kube-sa")
        defer { directory.remove() }
        let environment = ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"]

        // Nothing mounted and a plain HTTP server: no token, no CA, as in the demo.
        let plain = try ClientConfiguration.resolve(server: "http://127.0.0.1:8080", tokenFile: "", caFile: "",
                                                    environment: environment, directory: directory.path)
        #expect(plain.serverURL == "http://127.0.0.1:8080")
        #expect(plain.caFile == nil)
        guard case .none = plain.token else {
            Issue.record("expected no token")
            return
        }

        try Data("tok".utf8).write(to: URL(fileURLWithPath: directory.path + "/token"))
        try Data("PEM".utf8).write(to: URL(fileURLWithPath: directory.path + "/ca.crt"))
        let explicit = try ClientConfiguration.resolve(server: "https://127.0.0.1:6443", tokenFile: "", caFile: "",
                                                       environment: environment, directory: directory.path)
        #expect(explicit.caFile == directory.path + "/ca.crt")
        guard case .file(let tokenPath) = explicit.token else {
            Issue.record("expected the service account token")
            return
        }
        #expect(tokenPath == directory.path + "/token")

        let inCluster = try ClientConfiguration.resolve(server: "", tokenFile: "", caFile: "/tmp/other-ca.pem",
                                                        environment: environment, directory: directory.path)
        #expect(inCluster.serverURL == "https://127.0.0.1:6443")
        #expect(inCluster.caFile == "/tmp/other-ca.pem")

        #expect(throws: KubernetesError.self) {
            _ = try ClientConfiguration.resolve(server: "https://127.0.0.1:6443", tokenFile: directory.path + "/nope",
                                                caFile: "", environment: environment, directory: directory.path)
        }
    }

    @Test("server URL must be http or https")
    func serverURLValidation() throws {
        #expect(throws: KubernetesError.self) { _ = try ClientConfiguration(serverURL: "ftp://127.0.0.1") }
        #expect(throws: KubernetesError.self) { _ = try ClientConfiguration(serverURL: "127.0.0.1:6443") }
        let configuration = try ClientConfiguration(serverURL: "https://127.0.0.1:6443/")
        #expect(configuration.serverURL == "https://127.0.0.1:6443")
        #expect(configuration.usesTLS)
    }
}
