import Foundation

extension FakeAPIServer {
    /// Serves the test controls, which are neither recorded nor subject to faults:
    /// - `GET /debug/requests`: the recorded requests as a JSON list;
    ///   `DELETE` clears them.
    /// - `POST /debug/faults` with a `FaultRule` body adds a rule, for example
    ///   `{"method":"PATCH","pathPrefix":"/api/v1/","action":{"status":{"code":503}},"count":3}`;
    ///   `DELETE /debug/faults` removes them all.
    /// - `POST /debug/down?seconds=N` refuses connections for N seconds.
    func handleDebug(_ request: HTTPServerRequest) -> HTTPServerReply {
        switch (request.method, request.path) {
        case ("GET", "/debug/requests"):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let body = (try? encoder.encode(receivedRequests())) ?? Data("[]".utf8)
            return .response(status: 200, contentType: "application/json", body: body)
        case ("DELETE", "/debug/requests"):
            clearReceivedRequests()
            return .response(status: 200, contentType: "application/json", body: Data("{}".utf8))
        case ("POST", "/debug/faults"):
            do {
                addFault(try JSONDecoder().decode(FaultRule.self, from: request.body))
                return .response(status: 201, contentType: "application/json", body: Data("{}".utf8))
            } catch {
                return Self.status(400, reason: "BadRequest", message: "invalid fault rule: \(error)")
            }
        case ("DELETE", "/debug/faults"):
            clearFaults()
            return .response(status: 200, contentType: "application/json", body: Data("{}".utf8))
        case ("POST", "/debug/down"):
            guard let seconds = Double(request.query["seconds"] ?? ""), seconds > 0, seconds <= 3600 else {
                return Self.status(400, reason: "BadRequest", message: "expected ?seconds=N with 0 < N <= 3600")
            }
            // Send the response first. The listener closes 100 ms later.
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { [weak self] in
                try? self?.setDown(true)
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [weak self] in
                    try? self?.setDown(false)
                }
            }
            return .response(status: 202, contentType: "application/json", body: Data("{}".utf8))
        default:
            return Self.status(404, reason: "NotFound", message: "unknown debug endpoint \(request.method) \(request.path)")
        }
    }
}
