import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Severity of a log line, lowest first.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case debug = 0, info, warning, error

    /// The name used in configuration files and in the `level` field.
    public var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warning: return "warn"
        case .error: return "error"
        }
    }

    /// Parses a level name as written in configuration (`debug`, `info`,
    /// `warn` or `warning`, `error`).
    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Output encoding of log lines.
public enum LogFormat: String, Sendable {
    /// `key=value` pairs, quoted where needed (https://brandur.org/logfmt).
    case logfmt
    /// One JSON object per line.
    case json
}

/// Where log lines go and which of them are written. One instance is shared
/// by every `Logger` of a process.
public final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var minimumLevel: LogLevel
    private var format: LogFormat
    private let write: @Sendable (String) -> Void

    /// Creates a sink that hands each finished line (with its newline) to
    /// `write`. The default writes to standard error.
    public init(level: LogLevel = .info, format: LogFormat = .logfmt,
                write: @escaping @Sendable (String) -> Void = LogSink.writeToStandardError) {
        self.minimumLevel = level
        self.format = format
        self.write = write
    }

    /// The process-wide sink used by loggers created without one.
    public static let shared = LogSink()

    /// Changes the level and format, for example after the configuration
    /// file was read.
    public func configure(level: LogLevel, format: LogFormat) {
        lock.lock()
        minimumLevel = level
        self.format = format
        lock.unlock()
    }

    func isEnabled(_ level: LogLevel) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return level >= minimumLevel
    }

    func emit(level: LogLevel, component: String, message: String, fields: [(String, String)]) {
        lock.lock()
        let enabled = level >= minimumLevel
        let format = self.format
        lock.unlock()
        guard enabled else { return }

        var all: [(String, String)] = [
            ("time", LogSink.timestamp()),
            ("level", level.name),
            ("component", component),
            ("msg", message),
        ]
        all.append(contentsOf: fields)

        let line: String
        switch format {
        case .logfmt: line = all.map { "\($0.0)=\(LogSink.logfmtValue($0.1))" }.joined(separator: " ")
        case .json: line = LogSink.jsonObject(all)
        }
        lock.lock()
        write(line + "\n")
        lock.unlock()
    }

    /// Writes `line` to file descriptor 2 with write(2), retrying on EINTR
    /// and partial writes. Foundation's FileHandle.write traps on EINTR,
    /// which the SIGCHLD of every CNI plugin process can cause.
    @Sendable public static func writeToStandardError(_ line: String) {
        writeAll(line, to: STDERR_FILENO)
    }

    /// Writes all of `text` to `descriptor`, retrying on EINTR. Errors other
    /// than EINTR drop the rest of the text: a log line is not worth a crash.
    public static func writeAll(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_nsec / 1_000_000))
    }

    static func logfmtValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline || $0 == "\\" }
        guard needsQuotes else { return value }
        var escaped = "\""
        for character in value {
            switch character {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default: escaped.append(character)
            }
        }
        return escaped + "\""
    }

    static func jsonObject(_ fields: [(String, String)]) -> String {
        let body = fields.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",")
        return "{" + body + "}"
    }

    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A component's logger: every line carries the component name and the
/// logger's fixed fields (for example the pod and sandbox ids).
public struct Logger: Sendable {
    public let component: String
    public let fields: [(String, String)]
    private let sink: LogSink

    public init(component: String, sink: LogSink = .shared) {
        self.component = component
        self.fields = []
        self.sink = sink
    }

    private init(component: String, fields: [(String, String)], sink: LogSink) {
        self.component = component
        self.fields = fields
        self.sink = sink
    }

    /// Returns a logger that adds `extra` to every line, after the fields
    /// this logger already carries.
    public func with(_ extra: [(String, String)]) -> Logger {
        Logger(component: component, fields: fields + extra, sink: sink)
    }

    /// Returns a logger for the same sink and fields under another component name.
    public func component(_ name: String) -> Logger {
        Logger(component: name, fields: fields, sink: sink)
    }

    public func isEnabled(_ level: LogLevel) -> Bool { sink.isEnabled(level) }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ extra: [(String, String)] = []) {
        guard sink.isEnabled(level) else { return }
        sink.emit(level: level, component: component, message: message(), fields: fields + extra)
    }

    public func debug(_ message: @autoclosure () -> String, _ extra: [(String, String)] = []) { log(.debug, message(), extra) }
    public func info(_ message: @autoclosure () -> String, _ extra: [(String, String)] = []) { log(.info, message(), extra) }
    public func warning(_ message: @autoclosure () -> String, _ extra: [(String, String)] = []) { log(.warning, message(), extra) }
    public func error(_ message: @autoclosure () -> String, _ extra: [(String, String)] = []) { log(.error, message(), extra) }
}
