import BackendAPI
import CNI
import Foundation

/// Builds the C table of `hydra_backend.h` for a Swift `Backend` type. A
/// backend's one export line calls `entry(for:)`; nothing else in the SDK
/// needs to be called by backend authors.
public enum BackendExport {
    /// Returns the table for `type`, built on the first call and kept for the
    /// life of the process (the host never unloads a backend).
    public static func entry<B: Backend>(for type: B.Type) -> UnsafeRawPointer {
        tableLock.lock()
        defer { tableLock.unlock() }
        let key = ObjectIdentifier(type)
        if let table = tables[key] { return UnsafeRawPointer(table) }
        let table = makeTable(for: type)
        tables[key] = table
        return UnsafeRawPointer(table)
    }

    // Tables are keyed by backend type so that an SDK copy shared between
    // images (through symbol interposition) still hands each type its own table.
    private nonisolated(unsafe) static var tables: [ObjectIdentifier: UnsafeMutableRawPointer] = [:]
    private static let tableLock = NSLock()

    /// Holds the backend type behind the table, so the context-free `init`
    /// function can find it: the table is followed in memory by an
    /// `Unmanaged<TypeBox>` pointer, and init receives the table pointer.
    private final class TypeBox {
        let type: any Backend.Type
        init(type: any Backend.Type) { self.type = type }
    }

    /// The `instance` pointer handed to the host: a retained box around the
    /// backend object, released by shutdown.
    private final class InstanceBox {
        let backend: any Backend
        init(backend: any Backend) { self.backend = backend }
    }

    private static let tableSize = MemoryLayout<hydra_backend_v1>.stride

    private static func makeTable<B: Backend>(for type: B.Type) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(
            byteCount: tableSize + MemoryLayout<UnsafeMutableRawPointer>.stride,
            alignment: MemoryLayout<hydra_backend_v1>.alignment)

        // Identity strings and the type list live as long as the process.
        let typeNames = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: B.types.count + 1)
        for (index, name) in B.types.enumerated() {
            typeNames[index] = UnsafePointer(strdup(name))
        }
        typeNames[B.types.count] = nil

        var table = hydra_backend_v1()
        table.abi_version = UInt32(HYDRA_BACKEND_ABI_VERSION)
        table.struct_size = UInt32(MemoryLayout<hydra_backend_v1>.size)
        table.name = UnsafePointer(strdup(B.name))
        table.version = UnsafePointer(strdup(B.version))
        table.types = UnsafePointer(typeNames)
        table.flags = B.isThreadSafe ? UInt32(HYDRA_BACKEND_THREAD_SAFE) : 0
        table.`init` = initThunk
        table.attach = attachThunk
        table.detach = detachThunk
        table.check = checkThunk
        table.gc = gcThunk
        table.shutdown = shutdownThunk
        table.free_string = { string in free(string) }

        memory.storeBytes(of: table, as: hydra_backend_v1.self)
        let box = Unmanaged.passRetained(TypeBox(type: type)).toOpaque()
        memory.storeBytes(of: box, toByteOffset: tableSize, as: UnsafeMutableRawPointer.self)
        return memory
    }

    // MARK: - C entry points (capture no context)

    private static let initThunk: @convention(c) (
        UnsafePointer<hydra_backend_v1>?, UnsafePointer<CChar>?, UnsafePointer<hydra_host_services_v1>?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { table, configText, host, instance, errorMessage in
        guard let table, let host, let instance else {
            return fail(CNIError(code: CNIError.internalError, msg: "init called with a NULL table, host or instance pointer"),
                        errorMessage)
        }
        let boxPointer = UnsafeRawPointer(table).load(fromByteOffset: tableSize, as: UnsafeMutableRawPointer.self)
        let type = Unmanaged<TypeBox>.fromOpaque(boxPointer).takeUnretainedValue().type

        let configuration: JSONValue
        do {
            let text = configText.map { String(cString: $0) } ?? "{}"
            configuration = try JSONValue(parsing: Data(text.utf8))
        } catch {
            return fail(CNIError(code: CNIError.decodingFailure, msg: "invalid backend configuration JSON: \(error)"),
                        errorMessage)
        }
        do {
            let backend = try type.init(configuration: configuration, host: HostServices(table: host))
            instance.pointee = Unmanaged.passRetained(InstanceBox(backend: backend)).toOpaque()
            return 0
        } catch {
            return fail(error, errorMessage)
        }
    }

    private static let attachThunk: @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int64,
        UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { instance, requestText, deadline, resultJSON, errorMessage in
        do {
            let backend = try backend(from: instance)
            let request = try AttachRequest(jsonText: data(requestText))
            let result = try backend.attach(request, deadline: Deadline(monotonicNanoseconds: deadline))
            // The host parses the result, so key order does not matter and is not sorted.
            let encoded = try result.jsonValue(as: resultVersion(for: request)).encodedString(sortedKeys: false)
            resultJSON?.pointee = strdup(encoded)
            return 0
        } catch {
            return fail(error, errorMessage)
        }
    }

    private static let detachThunk: @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int64, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { instance, requestText, deadline, errorMessage in
        do {
            let backend = try backend(from: instance)
            let request = try AttachRequest(jsonText: data(requestText))
            try backend.detach(request, deadline: Deadline(monotonicNanoseconds: deadline))
            return 0
        } catch {
            return fail(error, errorMessage)
        }
    }

    private static let checkThunk: @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int64, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { instance, requestText, deadline, errorMessage in
        do {
            let backend = try backend(from: instance)
            let request = try AttachRequest(jsonText: data(requestText))
            try backend.check(request, deadline: Deadline(monotonicNanoseconds: deadline))
            return 0
        } catch {
            return fail(error, errorMessage)
        }
    }

    private static let gcThunk: @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Int64, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> UInt32 = { instance, requestText, deadline, errorMessage in
        do {
            let backend = try backend(from: instance)
            let request = try GCRequest(jsonText: data(requestText))
            try backend.garbageCollect(request, deadline: Deadline(monotonicNanoseconds: deadline))
            return 0
        } catch {
            return fail(error, errorMessage)
        }
    }

    private static let shutdownThunk: @convention(c) (UnsafeMutableRawPointer?) -> Void = { instance in
        guard let instance else { return }
        let box = Unmanaged<InstanceBox>.fromOpaque(instance)
        box.takeUnretainedValue().backend.shutdown()
        box.release()
    }

    // MARK: - Helpers

    private static func backend(from instance: UnsafeMutableRawPointer?) throws(CNIError) -> any Backend {
        guard let instance else {
            throw CNIError(code: CNIError.internalError, msg: "called with a NULL instance (init did not succeed)")
        }
        return Unmanaged<InstanceBox>.fromOpaque(instance).takeUnretainedValue().backend
    }

    /// Returns the result version the ABI requires: the config's cniVersion,
    /// or 1.0.0 when the config is missing one or names a pre-1.0 version.
    private static func resultVersion(for request: AttachRequest) -> String {
        guard let version = CNIVersion(request.cniVersion), version >= .v1_0_0 else {
            return CNIVersion.v1_0_0.description
        }
        return version.description
    }

    private static func data(_ text: UnsafePointer<CChar>?) -> Data {
        guard let text else { return Data() }
        return Data(bytes: text, count: strlen(text))
    }

    /// Stores the error's message for the host and returns its code. Codes the
    /// ABI does not allow a backend to return (0, and 1000 and above) become
    /// 999 so that the error is not mistaken for success or for a host code.
    private static func fail(_ error: any Error, _ errorMessage: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> UInt32 {
        var code = UInt(CNIError.internalError)
        var message = String(describing: error)
        if let cniError = error as? CNIError {
            code = cniError.code
            message = cniError.details.isEmpty ? cniError.msg : "\(cniError.msg): \(cniError.details)"
            if code == 0 || code > UInt(HYDRA_ERR_BACKEND_LAST) {
                message = "\(message) (backend used invalid code \(cniError.code))"
                code = UInt(CNIError.internalError)
            }
        }
        errorMessage?.pointee = strdup(message)
        return UInt32(code)
    }
}
