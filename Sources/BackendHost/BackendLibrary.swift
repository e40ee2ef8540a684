import BackendAPI
import Foundation
import Glibc

/// A backend library opened with dlopen and its validated table, before init.
/// The library is never closed: Swift and Go runtimes cannot be unloaded, so
/// the host keeps every library it opened mapped until it exits.
public struct BackendLibrary: @unchecked Sendable {
    // Sendable because the table is immutable after hydra_backend_entry returned.
    public let path: String
    let table: UnsafePointer<hydra_backend_v1>

    /// The backend's name from its table.
    public let name: String
    public let version: String
    /// The CNI types the backend serves.
    public let types: [String]
    public let isThreadSafe: Bool
    public let hasGarbageCollection: Bool

    /// Opens `path` as the daemon does: checks that the file is an ELF shared
    /// object, calls dlopen(RTLD_NOW | RTLD_LOCAL), looks up
    /// `hydra_backend_entry`, and validates the ABI version and the table.
    public static func open(path: String) throws(BackendLoadError) -> BackendLibrary {
        try checkELFSharedObject(path)

        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw .openFailed(path: path, dlerror: message)
        }
        _ = dlerror()
        guard let symbol = dlsym(handle, HYDRA_BACKEND_ENTRY_SYMBOL) else {
            throw .missingSymbol(path: path, symbol: HYDRA_BACKEND_ENTRY_SYMBOL)
        }
        let entry = unsafeBitCast(symbol, to: hydra_backend_entry_fn.self)
        guard let table = entry() else {
            throw .invalidTable(path: path, reason: "hydra_backend_entry returned NULL")
        }
        return try BackendLibrary(path: path, table: table)
    }

    /// Validates a table: the version is read first, because a table of
    /// another ABI version may have any other layout.
    init(path: String, table: UnsafePointer<hydra_backend_v1>) throws(BackendLoadError) {
        let abiVersion = UnsafeRawPointer(table).load(as: UInt32.self)
        guard abiVersion == UInt32(HYDRA_BACKEND_ABI_VERSION) else {
            throw .abiMismatch(path: path, found: abiVersion, expected: UInt32(HYDRA_BACKEND_ABI_VERSION))
        }
        let fields = table.pointee
        guard fields.struct_size >= UInt32(MemoryLayout<hydra_backend_v1>.size) else {
            throw .invalidTable(path: path, reason: "struct_size \(fields.struct_size) is smaller than \(MemoryLayout<hydra_backend_v1>.size)")
        }
        guard let namePointer = fields.name, let versionPointer = fields.version else {
            throw .invalidTable(path: path, reason: "name or version is NULL")
        }
        let name = String(cString: namePointer)
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }) else {
            throw .invalidTable(path: path, reason: "name \"\(name)\" must be non-empty and use only a-z, 0-9 and -")
        }
        var types: [String] = []
        if var cursor = fields.types {
            while let type = cursor.pointee {
                types.append(String(cString: type))
                cursor += 1
            }
        }
        guard !types.isEmpty, !types.contains(where: \.isEmpty) else {
            throw .invalidTable(path: path, reason: "types must list at least one non-empty CNI type")
        }
        var missing: [String] = []
        if fields.`init` == nil { missing.append("init") }
        if fields.attach == nil { missing.append("attach") }
        if fields.detach == nil { missing.append("detach") }
        if fields.check == nil { missing.append("check") }
        if fields.shutdown == nil { missing.append("shutdown") }
        if fields.free_string == nil { missing.append("free_string") }
        guard missing.isEmpty else {
            throw .invalidTable(path: path, reason: "required functions are NULL: \(missing.joined(separator: ", "))")
        }

        self.path = path
        self.table = table
        self.name = name
        self.version = String(cString: versionPointer)
        self.types = types
        self.isThreadSafe = fields.flags & UInt32(HYDRA_BACKEND_THREAD_SAFE) != 0
        self.hasGarbageCollection = fields.gc != nil
    }

    /// Reads the ELF header: the magic, and e_type ET_DYN (a shared object).
    /// dlopen's own messages for such files ("invalid ELF header", "file too
    /// short") differ between libc versions, so the host checks first.
    private static func checkELFSharedObject(_ path: String) throws(BackendLoadError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT { throw .fileNotFound(path: path) }
            throw .openFailed(path: path, dlerror: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: 18)
        let count = read(descriptor, &header, header.count)
        guard count == header.count, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else {
            throw .notSharedObject(path: path, reason: "no ELF header")
        }
        // e_type is at offset 16, in the byte order given by EI_DATA (offset 5).
        let type = header[5] == 2 ? UInt16(header[16]) << 8 | UInt16(header[17])
                                  : UInt16(header[17]) << 8 | UInt16(header[16])
        guard type == 3 else {
            throw .notSharedObject(path: path, reason: "ELF type \(type) is not ET_DYN")
        }
    }
}
