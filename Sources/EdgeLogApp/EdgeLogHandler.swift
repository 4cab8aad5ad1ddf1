import EdgeLogCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log lines in the IoT Edge module convention, `<6> 2026-11-27 18:04:31.123 +00:00 message`, on stderr
/// (stdout is kept for command output). The last lines are kept in memory for status and diagnostics. URLs in a
/// line lose their user info and query string (`URLRedaction`).
public struct EdgeLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String

    public static let recent = RecentLines(capacity: 200)

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "<\(Self.severity(event.level))> \(Self.timestamp()) \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            text += " " + merged.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        // A URL's user info and query string may carry a credential (`?token=…`): never in a log line.
        text = URLRedaction.redactURLs(in: text)
        Self.recent.append(text)
        TerminalStatusLine.standardError.print(text + "\n")
    }

    /// syslog severity of a swift-log level.
    public static func severity(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// `2026-11-27 18:04:31.123 +00:00`
    static func timestamp() -> String {
        let now = FileSystem.now()
        var out: [UInt8] = []
        Timestamp.appendRFC3339(seconds: now.seconds, nanos: now.nanos, fractionDigits: 3, to: &out)
        // 2026-11-27T18:04:31.123Z -> 2026-11-27 18:04:31.123 +00:00
        out[10] = 0x20
        out.removeLast()
        out.append(contentsOf: " +00:00".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `--log-level` / `RuntimeLogLevel` values as IoT Edge modules take them.
    public static func level(named name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "trace", "verbose": return .trace
        case "debug": return .debug
        case "info", "information": return .info
        case "notice": return .notice
        case "warn", "warning": return .warning
        case "error": return .error
        case "critical", "fatal": return .critical
        default: return nil
        }
    }
}

/// The last N log lines (for `getRecentLogs` and the status output).
public final class RecentLines: Sendable {
    private let lines = Mutex<[String]>([])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func append(_ line: String) {
        lines.withLock {
            $0.append(line)
            if $0.count > capacity { $0.removeFirst($0.count - capacity) }
        }
    }

    public func last(_ n: Int) -> [String] { lines.withLock { Array($0.suffix(n)) } }
}
