import Foundation

/// Per-request time limits of the Kubernetes client.
public enum KubernetesTimeouts {
    /// Time allowed to open the TCP connection and finish the TLS handshake.
    public static let connect: Duration = .seconds(5)
    /// Time allowed for a whole GET, PATCH or POST, response included.
    public static let request: Duration = .seconds(10)
    /// `timeoutSeconds` sent with a watch: the API server ends the watch
    /// after this long and the caller starts a new one.
    public static let watchServerSeconds = 300
    /// Extra time the client waits past `watchServerSeconds` before it
    /// aborts a watch itself.
    public static let watchClientGrace: Duration = .seconds(30)
}

/// How to reach and authenticate to the API server.
// NOTE: bearer tokens are the only credential. Client certificates and
// kubeconfig files are not read.
public struct ClientConfiguration: Sendable {
    /// Directory where the kubelet mounts the pod's service account.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// Base URL such as `https://10.96.0.1:443`, without a trailing slash.
    /// A plain `http://` URL disables TLS; only tests and the demo use one.
    public var serverURL: String
    /// The bearer token sent with every request.
    public var token: BearerToken
    /// PEM file with the CA certificates that verify the server. nil uses
    /// libcurl's system CA bundle; verification is on either way.
    public var caFile: String?
    /// The namespace the process runs in, from the service account when in cluster.
    public var namespace: String?
    /// `User-Agent` header value.
    public var userAgent: String

    public init(serverURL: String, token: BearerToken = .none, caFile: String? = nil,
                namespace: String? = nil, userAgent: String = "hydra") throws {
        var trimmed = serverURL
        while trimmed.hasSuffix("/") {
            trimmed.removeLast()
        }
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(),
              scheme == "https" || scheme == "http", url.host != nil else {
            throw KubernetesError.invalidConfiguration(
                "invalid server URL \"\(serverURL)\": expected https://HOST[:PORT] (or http:// for a local test server)")
        }
        self.serverURL = trimmed
        self.token = token
        self.caFile = caFile
        self.namespace = namespace
        self.userAgent = userAgent
    }

    /// True when requests go over TLS.
    public var usesTLS: Bool { serverURL.lowercased().hasPrefix("https://") }

    /// Builds the in-cluster configuration the way client-go's
    /// `rest.InClusterConfig` does: the server from `KUBERNETES_SERVICE_HOST`
    /// and `KUBERNETES_SERVICE_PORT`, the token, CA and namespace from the
    /// service account directory. `environment` and `directory` are
    /// parameters so tests can supply their own.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 directory: String = serviceAccountDirectory) throws -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubernetesError.invalidConfiguration(
                "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        guard let portNumber = Int(port), (1...65535).contains(portNumber) else {
            throw KubernetesError.invalidConfiguration("invalid KUBERNETES_SERVICE_PORT \"\(port)\": expected 1-65535")
        }
        // An IPv6 service address needs brackets in a URL.
        let hostPart = host.contains(":") ? "[\(host)]" : host

        let tokenPath = directory + "/token"
        let caPath = directory + "/ca.crt"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubernetesError.invalidConfiguration("missing service account token \"\(tokenPath)\"")
        }
        guard FileManager.default.isReadableFile(atPath: caPath) else {
            throw KubernetesError.invalidConfiguration("missing service account CA certificate \"\(caPath)\"")
        }
        let namespace = FileManager.default.contents(atPath: directory + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }

        return try ClientConfiguration(serverURL: "https://\(hostPart):\(portNumber)", token: .file(tokenPath),
                                       caFile: caPath, namespace: namespace)
    }

    /// Builds the configuration from the three settings an operator writes,
    /// where an empty string means "use the default". An empty `server` uses
    /// `inCluster` with any given token or CA file replacing the service
    /// account's. An explicit server takes `tokenFile`, else the service
    /// account token when it exists, else no token. It takes `caFile`, else
    /// the service account CA when it exists, else libcurl's system bundle.
    public static func resolve(server: String, tokenFile: String, caFile: String,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               directory: String = serviceAccountDirectory) throws -> ClientConfiguration {
        if server.isEmpty {
            var configuration = try inCluster(environment: environment, directory: directory)
            if !tokenFile.isEmpty {
                configuration.token = .file(tokenFile)
            }
            if !caFile.isEmpty {
                configuration.caFile = caFile
            }
            return configuration
        }

        let fileManager = FileManager.default
        let serviceAccountToken = directory + "/token"
        let serviceAccountCA = directory + "/ca.crt"
        let token: BearerToken
        if !tokenFile.isEmpty {
            guard fileManager.isReadableFile(atPath: tokenFile) else {
                throw KubernetesError.invalidConfiguration("missing bearer token file \"\(tokenFile)\"")
            }
            token = .file(tokenFile)
        } else if fileManager.isReadableFile(atPath: serviceAccountToken) {
            token = .file(serviceAccountToken)
        } else {
            token = .none
        }

        var ca: String?
        if !caFile.isEmpty {
            guard fileManager.isReadableFile(atPath: caFile) else {
                throw KubernetesError.invalidConfiguration("missing CA file \"\(caFile)\"")
            }
            ca = caFile
        } else if fileManager.isReadableFile(atPath: serviceAccountCA) {
            ca = serviceAccountCA
        }
        let namespace = fileManager.contents(atPath: directory + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        return try ClientConfiguration(serverURL: server, token: token, caFile: ca, namespace: namespace)
    }
}
