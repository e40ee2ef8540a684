import Foundation

extension FakeAPIServer {
    private static let networkAttachmentDefinitionsGroup = "/apis/k8s.cni.cncf.io/v1"

    /// Serves one request: debug endpoints first, then faults, then the API.
    func handle(_ request: HTTPServerRequest) -> HTTPServerReply {
        if request.path.hasPrefix("/debug/") {
            return handleDebug(request)
        }

        state.lock()
        let fault = takeFault(method: request.method, path: request.path)
        let authorized = requiredToken.map { request.headers["authorization"] == "Bearer \($0)" } ?? true
        state.unlock()

        var reply: HTTPServerReply
        switch fault {
        case .delay(let seconds)?:
            Thread.sleep(forTimeInterval: seconds)
            reply = authorized ? route(request) : Self.status(401, reason: "Unauthorized", message: "Unauthorized")
        case .status(let code)?:
            reply = Self.status(code, reason: Self.reason(for: code), message: "injected fault: HTTP \(code)")
        case .close?:
            reply = .closeConnection
        case nil:
            reply = authorized ? route(request) : Self.status(401, reason: "Unauthorized", message: "Unauthorized")
        }
        record(request, reply: reply)
        return reply
    }

    /// Consumes one use of the first matching fault rule. The caller must lock `state`.
    private func takeFault(method: String, path: String) -> FaultAction? {
        guard let index = faults.firstIndex(where: { $0.matches(method: method, path: path) }) else { return nil }
        let action = faults[index].action
        if let count = faults[index].count {
            if count <= 1 {
                faults.remove(at: index)
            } else {
                faults[index].count = count - 1
            }
        }
        return action
    }

    private func record(_ request: HTTPServerRequest, reply: HTTPServerReply) {
        let status: Int
        switch reply {
        case .response(let code, _, _), .stream(let code, _, _): status = code
        case .closeConnection: status = 0
        }
        let entry = RecordedRequest(method: request.method, path: request.path, query: request.rawQuery,
                                    contentType: request.headers["content-type"],
                                    authorization: request.headers["authorization"],
                                    body: request.body.isEmpty ? nil : try? JSONValue.parse(request.body),
                                    status: status)
        state.lock()
        recorded.append(entry)
        state.unlock()
    }

    // MARK: Routing

    private func route(_ request: HTTPServerRequest) -> HTTPServerReply {
        let segments = request.path.split(separator: "/").map(String.init)

        // /api/v1/namespaces/{ns}/{resource}[/{name}]
        if segments.count >= 5, segments[0] == "api", segments[1] == "v1", segments[2] == "namespaces" {
            let namespace = segments[3]
            let name = segments.count == 6 ? segments[5] : nil
            guard segments.count <= 6 else { return Self.notFoundPath(request.path) }
            switch segments[4] {
            case "pods": return handlePods(request, namespace: namespace, name: name)
            case "events": return handleEvents(request, namespace: namespace, name: name)
            default: return Self.notFoundPath(request.path)
            }
        }

        // /apis/k8s.cni.cncf.io/v1/network-attachment-definitions (all namespaces)
        if request.path == Self.networkAttachmentDefinitionsGroup + "/network-attachment-definitions" {
            guard request.method == "GET" else { return Self.methodNotAllowed(request) }
            return listOrWatchNetworkAttachmentDefinitions(request, namespace: nil)
        }

        // /apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions[/{name}]
        if segments.count >= 6, segments.count <= 7, segments[0] == "apis", segments[1] == "k8s.cni.cncf.io",
           segments[2] == "v1", segments[3] == "namespaces", segments[5] == "network-attachment-definitions" {
            let namespace = segments[4]
            let name = segments.count == 7 ? segments[6] : nil
            return handleNetworkAttachmentDefinitions(request, namespace: namespace, name: name)
        }
        return Self.notFoundPath(request.path)
    }

    // MARK: Pods

    private func handlePods(_ request: HTTPServerRequest, namespace: String, name: String?) -> HTTPServerReply {
        state.lock()
        defer { state.unlock() }
        guard let name else {
            switch request.method {
            case "GET":
                let items = pods.filter { $0.key.hasPrefix(namespace + "/") }.sorted { $0.key < $1.key }.map(\.value)
                return list(kind: "PodList", apiVersion: "v1", items: items)
            case "POST":
                return create(request, namespace: namespace, kind: "Pod", resource: "pods")
            default:
                return Self.methodNotAllowed(request)
            }
        }

        let key = "\(namespace)/\(name)"
        switch request.method {
        case "GET":
            guard let pod = pods[key] else { return Self.notFound(resource: "pods", name: name) }
            return Self.json(200, pod)
        case "DELETE":
            guard let pod = pods.removeValue(forKey: key) else { return Self.notFound(resource: "pods", name: name) }
            return Self.json(200, pod)
        case "PATCH":
            return patchPod(request, key: key, name: name)
        default:
            return Self.methodNotAllowed(request)
        }
    }

    /// Applies a JSON merge patch to a pod. As in the real API server, a
    /// `metadata.uid` in the patch is a precondition, so a different UID gets
    /// 409 Conflict. The caller must lock `state`.
    private func patchPod(_ request: HTTPServerRequest, key: String, name: String) -> HTTPServerReply {
        let contentType = request.headers["content-type"]?.split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard contentType == "application/merge-patch+json" else {
            return Self.status(415, reason: "UnsupportedMediaType",
                               message: "the body of the request was in an unknown format - accepted media types "
                                   + "include: application/merge-patch+json (this fake serves merge patches only)")
        }
        guard let existing = pods[key] else { return Self.notFound(resource: "pods", name: name) }
        guard let patch = try? JSONValue.parse(request.body), case .object = patch else {
            return Self.status(400, reason: "BadRequest", message: "invalid JSON merge patch")
        }
        let existingUID = existing["metadata"]?["uid"]?.stringValue ?? ""
        if let patchUID = patch["metadata"]?["uid"]?.stringValue, patchUID != existingUID {
            return Self.status(409, reason: "Conflict",
                               message: "Operation cannot be fulfilled on pods \"\(name)\": Precondition failed: "
                                   + "UID in precondition: \(patchUID), UID in object meta: \(existingUID)")
        }
        var patched = existing.mergePatched(with: patch)
        resourceVersion += 1
        patched["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        patched["metadata"]?["uid"] = .string(existingUID)
        pods[key] = patched
        return Self.json(200, patched)
    }

    // MARK: Events

    private func handleEvents(_ request: HTTPServerRequest, namespace: String, name: String?) -> HTTPServerReply {
        state.lock()
        defer { state.unlock() }
        switch (request.method, name) {
        case ("POST", nil):
            guard var event = try? JSONValue.parse(request.body), case .object = event else {
                return Self.status(400, reason: "BadRequest", message: "invalid JSON body")
            }
            let bodyNamespace = event["metadata"]?["namespace"]?.stringValue
            if let bodyNamespace, bodyNamespace != namespace {
                return Self.status(400, reason: "BadRequest",
                                   message: "the namespace of the provided object does not match the namespace "
                                       + "sent on the request")
            }
            resourceVersion += 1
            event["metadata"]?["namespace"] = .string(namespace)
            event["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
            event["metadata"]?["uid"] = .string(UUID().uuidString.lowercased())
            events.append(event)
            return Self.json(201, event)
        case ("GET", nil):
            let items = events.filter { $0["metadata"]?["namespace"]?.stringValue == namespace }
            return list(kind: "EventList", apiVersion: "v1", items: items)
        default:
            return Self.methodNotAllowed(request)
        }
    }

    // MARK: NetworkAttachmentDefinitions

    private func handleNetworkAttachmentDefinitions(_ request: HTTPServerRequest, namespace: String,
                                                    name: String?) -> HTTPServerReply {
        guard let name else {
            switch request.method {
            case "GET":
                return listOrWatchNetworkAttachmentDefinitions(request, namespace: namespace)
            case "POST":
                state.lock()
                defer { state.unlock() }
                return create(request, namespace: namespace, kind: "NetworkAttachmentDefinition",
                              resource: "network-attachment-definitions")
            default:
                return Self.methodNotAllowed(request)
            }
        }

        state.lock()
        defer { state.unlock() }
        let key = "\(namespace)/\(name)"
        switch request.method {
        case "GET":
            guard let object = networkAttachmentDefinitions[key] else {
                return Self.notFound(resource: "network-attachment-definitions.k8s.cni.cncf.io", name: name)
            }
            return Self.json(200, object)
        case "DELETE":
            guard let removed = removeNetworkAttachmentDefinition(key: key) else {
                return Self.notFound(resource: "network-attachment-definitions.k8s.cni.cncf.io", name: name)
            }
            return Self.json(200, removed)
        default:
            return Self.methodNotAllowed(request)
        }
    }

    private func listOrWatchNetworkAttachmentDefinitions(_ request: HTTPServerRequest,
                                                         namespace: String?) -> HTTPServerReply {
        if request.query["watch"] == "true" || request.query["watch"] == "1" {
            return watchNetworkAttachmentDefinitions(request, namespace: namespace)
        }
        state.lock()
        defer { state.unlock() }
        let items = networkAttachmentDefinitions
            .filter { namespace == nil || $0.key.hasPrefix(namespace! + "/") }
            .sorted { $0.key < $1.key }
            .map(\.value)
        return list(kind: "NetworkAttachmentDefinitionList", apiVersion: "k8s.cni.cncf.io/v1", items: items)
    }

    /// Streams watch events newer than the request's resourceVersion, one
    /// JSON object per line, until `timeoutSeconds` (default 1800) passes,
    /// the client disconnects or the server stops. Without a resourceVersion
    /// (or with "0") it first sends ADDED for every current object, as the
    /// real API server does.
    private func watchNetworkAttachmentDefinitions(_ request: HTTPServerRequest,
                                                   namespace: String?) -> HTTPServerReply {
        let timeout = Double(request.query["timeoutSeconds"] ?? "") ?? 1800
        let requestedVersion = request.query["resourceVersion"].flatMap { Int($0) } ?? 0

        state.lock()
        let initial: [(String, JSONValue)] = requestedVersion != 0 ? [] : networkAttachmentDefinitions
            .filter { namespace == nil || $0.key.hasPrefix(namespace! + "/") }
            .sorted { $0.key < $1.key }
            .map { ("ADDED", $0.value) }
        let startVersion = requestedVersion != 0 ? requestedVersion : resourceVersion
        let expired = requestedVersion != 0 && requestedVersion < oldestWatchableVersion
        state.unlock()

        // The real API server also starts the watch with 200 and reports an
        // expired resourceVersion as an ERROR event carrying a 410 Status.
        if expired {
            let status = JSONValue.object([
                "apiVersion": .string("v1"),
                "kind": .string("Status"),
                "metadata": .object([:]),
                "status": .string("Failure"),
                "message": .string("too old resource version: \(requestedVersion) (\(startVersion))"),
                "reason": .string("Expired"),
                "code": .int(410),
            ])
            return .stream(status: 200, contentType: "application/json") { writer in
                _ = writer.write(Self.watchLine(type: "ERROR", object: status))
            }
        }

        // The producer keeps the server alive until the watch ends.
        return .stream(status: 200, contentType: "application/json") { [self] writer in
            var lastSent = startVersion
            let deadline = Date().addingTimeInterval(timeout)
            for (type, object) in initial {
                guard writer.write(Self.watchLine(type: type, object: object)) else { return }
            }
            while true {
                state.lock()
                var pending = history.filter { $0.resourceVersion > lastSent }
                while pending.isEmpty && !stopping && Date() < deadline {
                    // Wake up now and then to notice a client that went away.
                    _ = state.wait(until: min(deadline, Date().addingTimeInterval(0.5)))
                    pending = history.filter { $0.resourceVersion > lastSent }
                    if pending.isEmpty && !writer.isPeerConnected {
                        state.unlock()
                        return
                    }
                }
                let finished = stopping || (pending.isEmpty && Date() >= deadline)
                state.unlock()
                if finished { return }

                for record in pending {
                    lastSent = record.resourceVersion
                    let objectNamespace = record.object["metadata"]?["namespace"]?.stringValue
                    guard namespace == nil || objectNamespace == namespace else { continue }
                    guard writer.write(Self.watchLine(type: record.type, object: record.object)) else { return }
                }
            }
        }
    }

    private static func watchLine(type: String, object: JSONValue) -> Data {
        var line = JSONValue.object(["type": .string(type), "object": object]).serialized()
        line.append(UInt8(ascii: "\n"))
        return line
    }

    // MARK: Helpers (callers lock `state` where they touch the store)

    private func create(_ request: HTTPServerRequest, namespace: String, kind: String,
                        resource: String) -> HTTPServerReply {
        guard var object = try? JSONValue.parse(request.body), case .object = object else {
            return Self.status(400, reason: "BadRequest", message: "invalid JSON body")
        }
        if object["metadata"] == nil {
            object["metadata"] = .object([:])
        }
        if let bodyNamespace = object["metadata"]?["namespace"]?.stringValue, bodyNamespace != namespace {
            return Self.status(400, reason: "BadRequest",
                               message: "the namespace of the provided object does not match the namespace sent on the request")
        }
        object["metadata"]?["namespace"] = .string(namespace)
        guard let name = object["metadata"]?["name"]?.stringValue, !name.isEmpty else {
            return Self.status(422, reason: "Invalid", message: "\(kind) is invalid: metadata.name: Required value")
        }
        let key = "\(namespace)/\(name)"
        let exists = kind == "Pod" ? pods[key] != nil : networkAttachmentDefinitions[key] != nil
        if exists {
            return Self.status(409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists")
        }
        object["metadata"]?["uid"] = nil
        guard let stored = try? insert(object, kind: kind) else {
            return Self.status(422, reason: "Invalid", message: "\(kind) is invalid")
        }
        return Self.json(201, stored)
    }

    private func list(kind: String, apiVersion: String, items: [JSONValue]) -> HTTPServerReply {
        Self.json(200, .object([
            "apiVersion": .string(apiVersion),
            "kind": .string(kind),
            "metadata": .object(["resourceVersion": .string(String(resourceVersion))]),
            "items": .array(items),
        ]))
    }

    static func json(_ status: Int, _ value: JSONValue) -> HTTPServerReply {
        .response(status: status, contentType: "application/json", body: value.serialized())
    }

    /// Builds a `Status` failure reply in the shape the real API server sends.
    static func status(_ code: Int, reason: String, message: String) -> HTTPServerReply {
        json(code, .object([
            "apiVersion": .string("v1"),
            "kind": .string("Status"),
            "metadata": .object([:]),
            "status": .string("Failure"),
            "message": .string(message),
            "reason": .string(reason),
            "code": .int(code),
        ]))
    }

    static func reason(for code: Int) -> String {
        switch code {
        case 404: return "NotFound"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }

    private static func notFound(resource: String, name: String) -> HTTPServerReply {
        status(404, reason: "NotFound", message: "\(resource) \"\(name)\" not found")
    }

    private static func notFoundPath(_ path: String) -> HTTPServerReply {
        status(404, reason: "NotFound", message: "the server could not find the requested resource (path \(path))")
    }

    private static func methodNotAllowed(_ request: HTTPServerRequest) -> HTTPServerReply {
        status(405, reason: "MethodNotAllowed", message: "method \(request.method) is not supported on \(request.path)")
    }
}
