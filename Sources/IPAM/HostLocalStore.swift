import Foundation

/// The host-local on-disk store, byte-compatible with the reference plugin
/// (containernetworking/plugins 1.1.1, backend/disk):
/// - `<dir>/<ip>`: one file per reserved address, mode 0644, containing the
///   container ID, "\r\n" and the interface name, with no trailing newline.
///   Files written by plugins before 0.7 contain only the container ID.
/// - `<dir>/last_reserved_ip.<range set index>`: the last address reserved
///   from that range set, without a trailing newline.
/// - `<dir>/lock`: an empty file that every reader and writer locks with an
///   exclusive `flock` for the whole read-modify-write.
///
/// `flock` locks belong to an open file description, so each `withLock` call
/// opens the lock file itself: two threads of one process exclude each other
/// exactly as two processes do.
struct HostLocalStore: Sendable {
    let directory: String

    static let lineBreak = "\r\n"
    static let lastReservedPrefix = "last_reserved_ip."

    /// Creates the network directory (mode 0755, like `os.MkdirAll`) if missing.
    init(directory: String) throws {
        self.directory = directory
        try Self.makeDirectories(directory)
    }

    // MARK: Locking

    /// Runs `body` while holding an exclusive `flock(2)` on `<dir>/lock`,
    /// created with mode 0750 as go-filemutex creates it.
    @discardableResult
    func withLock<T>(_ body: () throws -> T) throws -> T {
        let path = directory + "/lock"
        let descriptor = open(path, O_CREAT | O_RDONLY | O_CLOEXEC, 0o750)
        guard descriptor >= 0 else {
            throw CNIErrorFactory.ioFailure("failed to open lock file \"\(path)\"", errno: errno)
        }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            throw CNIErrorFactory.ioFailure("failed to lock \"\(path)\"", errno: code)
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    // MARK: Reservations (call with the lock held)

    /// Creates the file for `address` with O_EXCL. Returns false when the
    /// address is already reserved. On success records `address` as the last
    /// reserved one of range set `rangeSetIndex`.
    func reserve(containerID: String, ifName: String, address: IPAddress, rangeSetIndex: Int) throws -> Bool {
        let path = directory + "/" + address.description
        let descriptor = open(path, O_RDWR | O_EXCL | O_CREAT | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            let code = errno
            if code == EEXIST { return false }
            throw CNIErrorFactory.ioFailure("failed to create reservation file \"\(path)\"", errno: code)
        }
        let content = Self.reservationContent(containerID: containerID, ifName: ifName)
        let writeError = Self.writeAll(descriptor, Array(content.utf8))
        let closeFailed = close(descriptor) != 0
        if writeError != 0 || closeFailed {
            let code = writeError != 0 ? writeError : errno
            unlink(path)
            throw CNIErrorFactory.ioFailure("failed to write reservation file \"\(path)\"", errno: code)
        }
        try writeFile(Self.lastReservedPrefix + String(rangeSetIndex), address.description)
        return true
    }

    /// Returns the last reserved address of a range set, or nil when the file
    /// is missing or does not contain an address.
    func lastReservedAddress(rangeSetIndex: Int) -> IPAddress? {
        let path = directory + "/" + Self.lastReservedPrefix + String(rangeSetIndex)
        guard let data = Self.readFile(path) else { return nil }
        return IPAddress(String(decoding: data, as: UTF8.self))
    }

    /// Returns the addresses reserved by the attachment, matching both the
    /// current "id\r\nifname" content and the ID-only legacy form.
    func addresses(containerID: String, ifName: String) -> [IPAddress] {
        let current = Self.reservationContent(containerID: containerID, ifName: ifName)
        let legacy = Self.trimmed(containerID)
        // Only files named after an address can be returned, so the others
        // (the lock, last_reserved_ip.N) are not even read.
        return walkFiles(addressNamesOnly: true).compactMap { path, content in
            guard content == current || content == legacy else { return nil }
            return IPAddress(String(path.split(separator: "/").last ?? ""))
        }
    }

    /// Returns true when any file belongs to the attachment (CHECK).
    func hasReservation(containerID: String, ifName: String) -> Bool {
        let current = Self.reservationContent(containerID: containerID, ifName: ifName)
        let legacy = Self.trimmed(containerID)
        let files = walkFiles()
        return files.contains { $0.content == current } || files.contains { $0.content == legacy }
    }

    /// Removes every file of the attachment. Only when none has the current
    /// form does it remove the files holding just the container ID, which
    /// plugins before 0.7 wrote. Returns the released addresses. Like the
    /// reference, a file that cannot be removed is skipped, not an error.
    @discardableResult
    func release(containerID: String, ifName: String) -> [IPAddress] {
        var released = removeFiles(matching: Self.reservationContent(containerID: containerID, ifName: ifName))
        if released.isEmpty {
            released = removeFiles(matching: Self.trimmed(containerID))
        }
        return released
    }

    /// Removes the file of one address if it still belongs to the attachment.
    /// Used to roll back a partly completed allocation.
    func release(address: IPAddress, containerID: String, ifName: String) {
        let path = directory + "/" + address.description
        guard let data = Self.readFile(path),
              Self.trimmed(String(decoding: data, as: UTF8.self))
                == Self.reservationContent(containerID: containerID, ifName: ifName)
        else { return }
        unlink(path)
    }

    /// Removes the reservation files of every attachment not in `keep`, given
    /// as (container ID, interface name) pairs. A legacy file, which holds only
    /// a container ID, is kept when any kept attachment has that ID. Files whose
    /// names are not addresses (the lock, last_reserved_ip.N) are never touched.
    /// Returns the released addresses.
    func releaseAll(except keep: Set<HostLocalAttachment>) -> [IPAddress] {
        let keptContents = Set(keep.map { Self.reservationContent(containerID: $0.containerID, ifName: $0.ifName) })
        let keptIDs = Set(keep.map { Self.trimmed($0.containerID) })
        var released: [IPAddress] = []
        for (path, content) in walkFiles() {
            guard let address = IPAddress(String(path.split(separator: "/").last ?? "")) else { continue }
            let isLegacy = !content.contains(Self.lineBreak)
            let kept = isLegacy ? keptIDs.contains(content) : keptContents.contains(content)
            if !kept && unlink(path) == 0 {
                released.append(address)
            }
        }
        return released
    }

    // MARK: Files

    /// Returns the file content of a reservation, trimmed like Go's strings.TrimSpace for comparison.
    static func reservationContent(containerID: String, ifName: String) -> String {
        trimmed(containerID) + lineBreak + ifName
    }

    static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func removeFiles(matching content: String) -> [IPAddress] {
        var released: [IPAddress] = []
        for (path, fileContent) in walkFiles() where fileContent == content {
            guard unlink(path) == 0 else { continue }
            if let address = IPAddress(String(path.split(separator: "/").last ?? "")) {
                released.append(address)
            }
        }
        return released
    }

    /// Lists every regular file under the directory, recursively and in
    /// lexical order like Go's filepath.Walk, with its trimmed content.
    /// Unreadable files are skipped.
    /// With `addressNamesOnly`, files whose names are not IP addresses are
    /// left out without being read.
    private func walkFiles(addressNamesOnly: Bool = false) -> [(path: String, content: String)] {
        var result: [(path: String, content: String)] = []
        walk(directory, addressNamesOnly: addressNamesOnly, into: &result)
        return result
    }

    /// Reads the directory with opendir(3)/readdir(3) and each file with
    /// read(2): every allocation and release walks the whole directory, so
    /// the walk avoids Foundation's per-file overhead.
    private func walk(_ path: String, addressNamesOnly: Bool, into result: inout [(path: String, content: String)]) {
        guard let stream = opendir(path) else { return }
        var entries: [(name: String, type: UInt8)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { entries.append((name, entry.pointee.d_type)) }
        }
        closedir(stream)

        for (name, type) in entries.sorted(by: { $0.name < $1.name }) {
            let child = path + "/" + name
            var isDirectory = type == UInt8(DT_DIR)
            if type == UInt8(DT_UNKNOWN) {
                // Some file systems do not fill in d_type.
                var info = stat()
                guard lstat(child, &info) == 0 else { continue }
                isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            }
            if isDirectory {
                walk(child, addressNamesOnly: addressNamesOnly, into: &result)
            } else if addressNamesOnly && IPAddress(name) == nil {
                continue
            } else if let data = Self.readFile(child) {
                result.append((child, Self.trimmed(String(decoding: data, as: UTF8.self))))
            }
        }
    }

    /// Returns a file's bytes, or nil when it cannot be opened or read.
    static func readFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var content: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return content }
            content.append(contentsOf: buffer[0..<count])
        }
    }

    /// Replaces a file's content (mode 0644 when created). The reference
    /// plugin uses Go's os.WriteFile, which opens with O_TRUNC; the bytes on
    /// disk end up the same here.
    ///
    /// ext4 quirk: closing a file that was truncated to zero and rewritten
    /// starts writeback of its data at once (the auto_da_alloc heuristic),
    /// which made this write cost about 0.4 ms per allocation on the
    /// benchmark machine. So the content is written in place from offset 0 and the
    /// file is then cut to its length, which never truncates to zero.
    /// Readers hold the network's lock, so they never see the file midway.
    private func writeFile(_ name: String, _ content: String) throws {
        let path = directory + "/" + name
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CNIErrorFactory.ioFailure("failed to open \"\(path)\"", errno: errno)
        }
        let bytes = Array(content.utf8)
        var writeError = Self.writeAll(descriptor, bytes)
        if writeError == 0 && ftruncate(descriptor, off_t(bytes.count)) != 0 { writeError = errno }
        let closeFailed = close(descriptor) != 0
        if writeError != 0 || closeFailed {
            throw CNIErrorFactory.ioFailure("failed to write \"\(path)\"", errno: writeError != 0 ? writeError : errno)
        }
    }

    /// Writes all bytes, retrying short writes and EINTR. Returns 0 or an errno value.
    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress, buffer.count)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return 0
    }

    /// Creates `path` and its missing parents with mode 0755.
    private static func makeDirectories(_ path: String) throws {
        // Every allocation after the first finds the directory: one stat.
        var existing = stat()
        if stat(path, &existing) == 0 && (existing.st_mode & S_IFMT) == S_IFDIR { return }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 {
                let code = errno
                var info = stat()
                guard code == EEXIST, stat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw CNIErrorFactory.ioFailure("failed to create directory \"\(current)\"", errno: code)
                }
            }
        }
    }
}
