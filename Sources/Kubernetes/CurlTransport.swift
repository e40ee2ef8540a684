import CCurl
import Foundation

/// One HTTP request as the client sends it.
struct HTTPRequest: Sendable {
    var method: String
    /// Full URL including the query.
    var url: String
    var headers: [String]
    var body: Data?
    /// Limit for the whole transfer; nil means no limit (watches).
    var timeout: Duration?
}

/// Status and body of a completed HTTP request.
struct HTTPResponse: Sendable {
    var status: Int
    var body: Data
}

/// A libcurl failure before an HTTP status arrived.
struct CurlFailure: Error {
    var code: Int
    var message: String
}

/// Calls `curl_global_init` once, before the first easy handle, as libcurl
/// requires in a multi-threaded process.
private let curlGlobalInit: Void = {
    _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// Runs HTTP requests with libcurl's easy interface. Every call blocks its
/// thread, so the async wrappers run it on a Dispatch queue, never on the
/// Swift concurrency pool.
struct CurlTransport: Sendable {
    var caFile: String?
    var userAgent: String
    var connectTimeout: Duration

    private static let queue = DispatchQueue(label: "hydra.kubernetes.curl", attributes: .concurrent)

    /// Performs `request` on a Dispatch queue and returns its response.
    func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                let collector = BodyCollector(onData: nil)
                do {
                    let status = try self.performBlocking(request, collector: collector)
                    continuation.resume(returning: HTTPResponse(status: status, body: collector.body))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Performs `request` on the calling thread, handing each received chunk
    /// to `onData`; returning false from `onData` or setting `cancelled`
    /// aborts the transfer. Returns the HTTP status and, for a non-2xx
    /// status, the body, which is then collected instead of streamed.
    func stream(_ request: HTTPRequest, cancelled: CancellationFlag,
                onData: @escaping (Data) -> Bool) throws -> HTTPResponse {
        let collector = BodyCollector(onData: onData)
        collector.cancelled = cancelled
        let status = try performBlocking(request, collector: collector)
        return HTTPResponse(status: status, body: collector.body)
    }

    /// Sets up an easy handle for `request` and runs `curl_easy_perform`.
    private func performBlocking(_ request: HTTPRequest, collector: BodyCollector) throws -> Int {
        _ = curlGlobalInit
        guard let handle = curl_easy_init() else {
            throw CurlFailure(code: -1, message: "curl_easy_init failed")
        }
        defer { curl_easy_cleanup(handle) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // "Expect:" turns off libcurl's `Expect: 100-continue` for large bodies.
        for header in request.headers + ["Expect:"] {
            headerList = curl_slist_append(headerList, header)
        }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        collector.handle = handle
        defer { collector.handle = nil }
        let retained = Unmanaged.passRetained(collector)
        defer { retained.release() }

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            var setupFailure: CURLcode = CURLE_OK
            func check(_ result: CURLcode) {
                if result != CURLE_OK && setupFailure == CURLE_OK {
                    setupFailure = result
                }
            }

            check(hydra_curl_setopt_string(handle, CURLOPT_URL, request.url))
            check(hydra_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
            check(hydra_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
            check(hydra_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
            check(hydra_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
            // Signals would interrupt other threads; timeouts work without them.
            check(hydra_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
            check(hydra_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
            check(hydra_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
            // The API server is reached directly: an empty proxy string makes
            // libcurl ignore http_proxy/https_proxy from the environment.
            check(hydra_curl_setopt_string(handle, CURLOPT_PROXY, ""))
            check(hydra_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout)))
            if let timeout = request.timeout {
                check(hydra_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)))
            }

            // TLS is always verified; there is deliberately no option to turn it off.
            check(hydra_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
            check(hydra_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
            if let caFile {
                check(hydra_curl_setopt_string(handle, CURLOPT_CAINFO, caFile))
            }

            if let body = request.body {
                check(hydra_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
                // COPYPOSTFIELDS copies the bytes, so the pointer need not outlive this call.
                body.withUnsafeBytes { raw in
                    check(hydra_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS,
                                                    UnsafeMutableRawPointer(mutating: raw.baseAddress)))
                }
            }

            check(hydra_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque()))
            check(hydra_curl_setopt_write_function(handle) { data, size, count, userData in
                let collector = Unmanaged<BodyCollector>.fromOpaque(userData!).takeUnretainedValue()
                let length = size * count
                guard let data, length > 0 else { return length }
                return collector.receive(Data(bytes: data, count: length)) ? length : 0
            })
            check(hydra_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, retained.toOpaque()))
            check(hydra_curl_setopt_xferinfo_function(handle) { userData, _, _, _, _ in
                let collector = Unmanaged<BodyCollector>.fromOpaque(userData!).takeUnretainedValue()
                return collector.cancelled?.isSet == true ? 1 : 0
            })

            guard setupFailure == CURLE_OK else { return setupFailure }
            return curl_easy_perform(handle)
        }

        var status = 0
        var responseCode = 0
        if hydra_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode) == CURLE_OK {
            status = responseCode
        }

        // A write callback that stopped the transfer on purpose is not a failure.
        if code == CURLE_WRITE_ERROR && collector.stoppedByCaller && status != 0 {
            return status
        }
        if code == CURLE_ABORTED_BY_CALLBACK && status != 0 {
            return status
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw CurlFailure(code: Int(code.rawValue), message: message)
        }
        return status
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

/// A flag another thread sets to abort a running transfer.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}

/// Receives the response body from libcurl's write callback, which runs on
/// the thread inside `curl_easy_perform`.
private final class BodyCollector {
    /// Bytes of a non-streamed body, and of a streamed one whose status is not 2xx.
    var body = Data()
    var cancelled: CancellationFlag?
    var stoppedByCaller = false
    /// The easy handle, set while `curl_easy_perform` runs.
    var handle: UnsafeMutableRawPointer?
    private let onData: ((Data) -> Bool)?

    init(onData: ((Data) -> Bool)?) {
        self.onData = onData
    }

    /// Stores or forwards one chunk; returns false to stop the transfer.
    func receive(_ chunk: Data) -> Bool {
        guard let onData, responseIsSuccess() else {
            body.append(chunk)
            return true
        }
        if onData(chunk) {
            return true
        }
        stoppedByCaller = true
        return false
    }

    /// Reads the status of the response being received; the status line has
    /// arrived by the time the first body byte reaches the write callback.
    private func responseIsSuccess() -> Bool {
        guard let handle else { return false }
        var code = 0
        guard hydra_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK else { return false }
        return (200..<300).contains(code)
    }
}
