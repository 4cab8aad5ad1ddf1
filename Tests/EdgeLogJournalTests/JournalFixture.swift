import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Logging
import Synchronization

/// One journal entry to write: fields as journald would store them (values are bytes: binary is allowed).
struct ExportEntry {
    var fields: [(String, [UInt8])]

    init(_ message: String? = nil, unit: String? = nil, identifier: String? = nil, priority: Int? = 6, fields: [(String, String)] = []) {
        self.fields = []
        if let message { self.fields.append(("MESSAGE", Array(message.utf8))) }
        if let priority { self.fields.append(("PRIORITY", Array(String(priority).utf8))) }
        if let identifier { self.fields.append(("SYSLOG_IDENTIFIER", Array(identifier.utf8))) }
        if let unit { self.fields.append(("_SYSTEMD_UNIT", Array(unit.utf8))) }
        self.fields += fields.map { ($0.0, Array($0.1.utf8)) }
    }

    init(rawFields: [(String, [UInt8])]) { fields = rawFields }
}

/// Writes real journal files with systemd-journal-remote from journal export format, with a clock that only
/// moves forward (1 ms per entry), so entries sort in the order they were written.
final class JournalWriter: @unchecked Sendable {
    static let tool = "/lib/systemd/systemd-journal-remote"
    static let bootID = "0123456789abcdef0123456789abcdef"
    /// 2026-11-27T18:04:31.123456Z in microseconds.
    static let baseTime: UInt64 = 1_795_802_671_123_456

    let directory: String
    private(set) var clock = JournalWriter.baseTime
    private var monotonic: UInt64 = 5_000_000

    init(directory: String) { self.directory = directory }

    /// The realtime (µs) the next entry will get.
    var nextTime: UInt64 { clock }

    /// Moves the clock, e.g. to write entries older than ones already written (a second file).
    func setClock(_ time: UInt64) { clock = time }

    /// Appends `entries` to `directory/file` (created if needed), as journald would.
    func write(_ entries: [ExportEntry], to file: String = "system.journal") throws {
        let export = exportText(entries)
        let input = directory + "/.input-\(UUID().uuidString).export"
        try Data(export).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try ChildProcess.run(Self.tool, ["-o", directory + "/" + file, "-"], stdin: input)
        guard result.status == 0 else {
            throw FixtureError(description: "journal-remote failed: \(result.stderr)")
        }
    }

    /// Export format: `NAME=value` lines, or `NAME\n` + 64-bit LE length + bytes + `\n` for values with line
    /// breaks, control characters or non-ASCII bytes; a blank line after each entry.
    func exportText(_ entries: [ExportEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            out += Array("__REALTIME_TIMESTAMP=\(clock)\n__MONOTONIC_TIMESTAMP=\(monotonic)\n_BOOT_ID=\(Self.bootID)\n".utf8)
            clock += 1000
            monotonic += 1000
            for (name, value) in entry.fields {
                if value.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                    out += Array(name.utf8) + [0x3D] + value + [0x0A]
                } else {
                    out += Array(name.utf8) + [0x0A]
                    withUnsafeBytes(of: UInt64(value.count).littleEndian) { out += $0 }
                    out += value + [0x0A]
                }
            }
            out.append(0x0A)
        }
        return out
    }

    /// A file of random bytes named like a journal file.
    func writeGarbage(_ file: String) throws {
        var bytes = [UInt8](repeating: 0, count: 64 * 1024)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + file))
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

struct Identity: BatchCompressor {
    func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { bytes }
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] { bytes }
}

/// A journal folder, a state folder and a collecting sink, run through the real pipeline.
final class JournalHarness: @unchecked Sendable {
    let dir = TemporaryDirectory(prefix: "edgelog-journal")
    let journalDirectory: String
    let writer: JournalWriter
    let sink = CollectingSink(decompress: { $0 })
    var settings = JournalSettings()
    var configuration = Configuration()
    let clock = FilterClock()
    /// Entries of Docker's journald driver read as container records (nil: they are host entries).
    var containers: JournalContainers?
    /// Host entries collected.
    var hostEntries = true

    init(createDirectory: Bool = true) throws {
        journalDirectory = dir.path + "/journal"
        if createDirectory { try FileManager.default.createDirectory(atPath: journalDirectory, withIntermediateDirectories: true) }
        writer = JournalWriter(directory: journalDirectory)
        settings.enabled = true
        settings.directory = journalDirectory
        settings.readFrom = "beginning"
        settings.maxPriority = 7
        settings.pollIntervalSeconds = 0.05
        configuration.stateDirectory = dir.path + "/state"
        configuration.batch.maxBytes = 64 * 1024
        configuration.batch.flushIntervalSeconds = 0.02
    }

    func pipeline(counters: Counters = Counters(), logger: Logger = Logger(label: "test")) throws -> Pipeline {
        configuration.journal = settings
        return try Pipeline(
            configuration: configuration, host: HostIdentity(computer: "edge1", deviceId: "dev1", iotHub: "hub1"),
            sources: [
                JournalSource(
                    settings: settings, records: configuration.records, filters: configuration.filters,
                    redaction: configuration.redaction, hostEntries: hostEntries, containers: containers,
                    nowNanos: { [clock] in clock.nanos })
            ], sink: sink, compressor: Identity(), counters: counters,
            logger: logger)
    }

    /// Runs once (a new pipeline on the same state) and returns the pipeline for its counters.
    @discardableResult
    func runOnce() async throws -> Pipeline {
        let p = try pipeline()
        _ = try await p.run(mode: .once)
        return p
    }

    func records() throws -> [JSONValue] { try sink.records.map { try JSONParser.parse($0) } }
    func messages() throws -> [String] { try records().map { $0["Message"]?.stringValue ?? "<none>" } }

    /// The committed journal cursor.
    func savedCursor() throws -> String? {
        let store = try CheckpointStore(directory: configuration.stateDirectory)
        if case .cursor(let c)? = store.positions["journal"] { return c }
        return nil
    }
}
