import Foundation
import HydraLog

extension KubernetesClient {
    /// Sends a request and decodes a 2xx body as `Result`.
    func send<Result: Decodable>(method: String, path: String, body: Data? = nil,
                                 contentType: String? = nil, timeout: Duration) async throws -> Result {
        let data = try await sendRaw(method: method, path: path, body: body, contentType: contentType,
                                     timeout: timeout)
        do {
            return try JSONDecoder().decode(Result.self, from: data)
        } catch {
            throw KubernetesError.invalidResponse(request: "\(method) \(path)", detail: "\(error)")
        }
    }

    /// Sends a request and returns the body of a 2xx response. On 401 the
    /// token file is read again and the request repeated once, because a
    /// rotated token may have replaced the cached one.
    func sendRaw(method: String, path: String, body: Data?, contentType: String?,
                 timeout: Duration) async throws -> Data {
        let description = "\(method) \(path)"
        var attempt = 0
        while true {
            attempt += 1
            let request = try makeRequest(method: method, path: path, body: body, contentType: contentType,
                                          timeout: timeout)
            let response: HTTPResponse
            do {
                response = try await transport.perform(request)
            } catch let failure as CurlFailure {
                throw KubernetesError.transport(request: description, code: failure.code, message: failure.message)
            }

            if response.status == 401 && attempt == 1 {
                logger.info("API server rejected the bearer token; reading the token again",
                            [("request", description)])
                tokenSource.invalidate()
                continue
            }
            if (200..<300).contains(response.status) {
                return response.body
            }
            throw Self.error(for: response, request: description)
        }
    }

    /// Builds the URL and headers for a request, with the current token.
    func makeRequest(method: String, path: String, body: Data?, contentType: String?,
                     timeout: Duration?) throws -> HTTPRequest {
        var headers = ["Accept: application/json"]
        if let token = try tokenSource.current() {
            headers.append("Authorization: Bearer \(token)")
        }
        if let contentType {
            headers.append("Content-Type: \(contentType)")
        }
        return HTTPRequest(method: method, url: configuration.serverURL + path, headers: headers, body: body,
                           timeout: timeout)
    }

    /// Maps a non-2xx response to a `KubernetesError`, decoding the API's
    /// Status object when the body contains one.
    static func error(for response: HTTPResponse, request: String) -> KubernetesError {
        var status = (try? JSONDecoder().decode(APIStatus.self, from: response.body)) ?? APIStatus()
        if status.message == nil {
            let text = String(decoding: response.body.prefix(512), as: UTF8.self)
            status.message = text.isEmpty ? "HTTP \(response.status)" : text
        }
        switch response.status {
        case 404: return .notFound(request: request, status: status)
        case 409: return .conflict(request: request, status: status)
        case 429, 500...599: return .unavailable(request: request, httpStatus: response.status, status: status)
        default: return .rejected(request: request, httpStatus: response.status, status: status)
        }
    }

    /// Runs a watch request on a dedicated thread and yields its events.
    func watch<Object: Decodable & Sendable>(path: String) -> AsyncThrowingStream<WatchEvent<Object>, Error> {
        let description = "GET \(path)"
        let cancelled = CancellationFlag()
        let (stream, continuation) = AsyncThrowingStream<WatchEvent<Object>, Error>.makeStream()
        continuation.onTermination = { _ in cancelled.set() }

        let request: HTTPRequest
        do {
            request = try makeRequest(method: "GET", path: path, body: nil, contentType: nil,
                                      timeout: .seconds(KubernetesTimeouts.watchServerSeconds)
                                          + KubernetesTimeouts.watchClientGrace)
        } catch {
            continuation.finish(throwing: error)
            return stream
        }

        let transport = self.transport
        let thread = Thread {
            var buffer = Data()
            var decodeFailure: KubernetesError?
            do {
                let response = try transport.stream(request, cancelled: cancelled) { chunk in
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = buffer[buffer.startIndex..<newline]
                        buffer.removeSubrange(buffer.startIndex...newline)
                        if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                            continue
                        }
                        do {
                            continuation.yield(try Self.decodeWatchEvent(Data(line)))
                        } catch {
                            decodeFailure = .invalidResponse(request: description, detail: "\(error)")
                            return false
                        }
                    }
                    return !cancelled.isSet
                }
                if let decodeFailure {
                    continuation.finish(throwing: decodeFailure)
                } else if (200..<300).contains(response.status) {
                    continuation.finish()
                } else {
                    continuation.finish(throwing: Self.error(for: response, request: description))
                }
            } catch let failure as CurlFailure {
                if cancelled.isSet {
                    continuation.finish()
                } else {
                    continuation.finish(throwing: KubernetesError.transport(request: description, code: failure.code,
                                                                            message: failure.message))
                }
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "hydra-k8s-watch"
        thread.start()
        return stream
    }

    /// Decodes one line of a watch stream.
    static func decodeWatchEvent<Object: Decodable & Sendable>(_ line: Data) throws -> WatchEvent<Object> {
        let decoder = JSONDecoder()
        let type = try decoder.decode(WatchEventType.self, from: line).type
        switch type {
        case "ADDED": return .added(try decoder.decode(WatchEventBody<Object>.self, from: line).object)
        case "MODIFIED": return .modified(try decoder.decode(WatchEventBody<Object>.self, from: line).object)
        case "DELETED": return .deleted(try decoder.decode(WatchEventBody<Object>.self, from: line).object)
        case "BOOKMARK":
            let bookmark = try decoder.decode(WatchEventBody<BookmarkObject>.self, from: line).object
            return .bookmark(resourceVersion: bookmark.metadata.resourceVersion)
        case "ERROR": return .error(try decoder.decode(WatchEventBody<APIStatus>.self, from: line).object)
        default:
            throw KubernetesError.invalidResponse(request: "watch", detail: "unknown watch event type \"\(type)\"")
        }
    }
}
