import CCurl
import Foundation

/// A libcurl failure before an HTTP status arrived (connection refused, TLS
/// handshake failed, timeout).
struct EtcdCurlFailure: Error, CustomStringConvertible {
    var code: Int
    var message: String
    var description: String { "\(message) (libcurl error \(code))" }
}

/// Calls `curl_global_init` once, before the first easy handle, as libcurl
/// requires in a multi-threaded process.
private let curlGlobalInit: Void = {
    _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// Runs one HTTP POST with libcurl's easy interface on the calling thread.
/// Every call blocks, so callers run it on their own threads, never on the
/// Swift concurrency pool.
struct EtcdTransport: Sendable {
    var configuration: EtcdConfiguration

    /// Posts `body` to `url` and returns the status and body. With `onData`
    /// set, each chunk of a 2xx body goes to it instead of being collected,
    /// and returning false from it ends the transfer. `timeout` nil means no
    /// overall limit (streams). `cancellation` aborts at the next progress callback.
    func post(url: String, body: Data, timeout: Duration?, cancellation: EtcdCancellation?,
              onData: ((Data) -> Bool)? = nil) throws -> (status: Int, body: Data) {
        _ = curlGlobalInit
        guard let handle = curl_easy_init() else {
            throw EtcdCurlFailure(code: -1, message: "curl_easy_init failed")
        }
        defer { curl_easy_cleanup(handle) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for header in ["Content-Type: application/json", "Expect:"] {
            headerList = curl_slist_append(headerList, header)
        }

        let collector = ChunkCollector(onData: onData, cancellation: cancellation)
        collector.handle = handle
        let retained = Unmanaged.passRetained(collector)
        defer { retained.release() }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            var setupFailure: CURLcode = CURLE_OK
            func check(_ result: CURLcode) {
                if result != CURLE_OK && setupFailure == CURLE_OK { setupFailure = result }
            }
            check(hydra_curl_setopt_string(handle, CURLOPT_URL, url))
            check(hydra_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "POST"))
            check(hydra_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
            check(hydra_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
            // Signals would interrupt other threads; timeouts work without them.
            check(hydra_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
            check(hydra_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
            // etcd is reached directly: an empty proxy string makes libcurl
            // ignore http_proxy/https_proxy from the environment.
            check(hydra_curl_setopt_string(handle, CURLOPT_PROXY, ""))
            check(hydra_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(configuration.connectTimeout)))
            if let timeout {
                check(hydra_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)))
            }
            // TLS is always verified; there is deliberately no option to turn it off.
            check(hydra_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
            check(hydra_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
            if let caFile = configuration.caFile {
                check(hydra_curl_setopt_string(handle, CURLOPT_CAINFO, caFile))
            }
            if let certFile = configuration.certFile {
                check(hydra_curl_setopt_string(handle, CURLOPT_SSLCERT, certFile))
            }
            if let keyFile = configuration.keyFile {
                check(hydra_curl_setopt_string(handle, CURLOPT_SSLKEY, keyFile))
            }

            check(hydra_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
            // COPYPOSTFIELDS copies the bytes, so the pointer need not outlive this call.
            body.withUnsafeBytes { raw in
                check(hydra_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS,
                                                UnsafeMutableRawPointer(mutating: raw.baseAddress)))
            }
            check(hydra_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque()))
            check(hydra_curl_setopt_write_function(handle) { data, size, count, userData in
                let collector = Unmanaged<ChunkCollector>.fromOpaque(userData!).takeUnretainedValue()
                let length = size * count
                guard let data, length > 0 else { return length }
                return collector.receive(Data(bytes: data, count: length)) ? length : 0
            })
            check(hydra_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, retained.toOpaque()))
            check(hydra_curl_setopt_xferinfo_function(handle) { userData, _, _, _, _ in
                let collector = Unmanaged<ChunkCollector>.fromOpaque(userData!).takeUnretainedValue()
                return collector.cancellation?.isCancelled == true ? 1 : 0
            })
            guard setupFailure == CURLE_OK else { return setupFailure }
            return curl_easy_perform(handle)
        }

        var status = 0
        if hydra_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK { status = 0 }
        if cancellation?.isCancelled == true && (code == CURLE_ABORTED_BY_CALLBACK || code == CURLE_WRITE_ERROR) {
            throw EtcdError.cancelled
        }
        // A write callback that stopped a stream on purpose is not a failure.
        if code == CURLE_WRITE_ERROR && collector.stoppedByCaller && status != 0 {
            return (status, collector.body)
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw EtcdCurlFailure(code: Int(code.rawValue), message: message)
        }
        return (status, collector.body)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

/// Receives the response body from libcurl's write callback, which runs on
/// the thread inside `curl_easy_perform`.
private final class ChunkCollector {
    var body = Data()
    var stoppedByCaller = false
    var handle: UnsafeMutableRawPointer?
    let onData: ((Data) -> Bool)?
    let cancellation: EtcdCancellation?

    init(onData: ((Data) -> Bool)?, cancellation: EtcdCancellation?) {
        self.onData = onData
        self.cancellation = cancellation
    }

    /// Stores or forwards one chunk; returns false to stop the transfer.
    func receive(_ chunk: Data) -> Bool {
        if cancellation?.isCancelled == true { return false }
        guard let onData, responseIsSuccess() else {
            body.append(chunk)
            return true
        }
        if onData(chunk) { return true }
        stoppedByCaller = true
        return false
    }

    /// Reads the status of the response; the status line has arrived by the
    /// time the first body byte reaches the write callback.
    private func responseIsSuccess() -> Bool {
        guard let handle else { return false }
        var code = 0
        guard hydra_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK else { return false }
        return (200..<300).contains(code)
    }
}
