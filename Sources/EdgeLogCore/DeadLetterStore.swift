#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Batches the sink refused for good, kept under `<stateDirectory>/deadletter` with the reason beside each,
/// so the pipeline keeps moving and nothing is lost silently. Bounded: beyond `maxBytes` the oldest go.
public struct DeadLetterStore: Sendable {
    public let directory: String
    public let maxBytes: Int64

    public init(directory: String, maxBytes: Int64 = 64 << 20) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    public func store(_ entry: SpoolEntry, payload: [UInt8], reason: String, detail: String) throws {
        try FileSystem.makeDirectories(directory)
        try FileSystem.writeAtomically(payload, to: directory + "/" + entry.fileName)
        try writeMetadata(entry, reason: reason, detail: detail)
        try trim()
    }

    /// Moves a spool file as it is (too large to read, or unreadable) into the folder, with the reason beside it.
    public func take(_ entry: SpoolEntry, from spoolDirectory: String, reason: String) throws {
        try FileSystem.makeDirectories(directory)
        let from = spoolDirectory + "/" + entry.fileName
        let to = directory + "/" + entry.fileName
        try syscallRetrying("rename", path: to) { rename(from, to) }
        try FileSystem.syncDirectory(directory)
        try writeMetadata(entry, reason: reason, detail: "")
        try trim()
    }

    private func writeMetadata(_ entry: SpoolEntry, reason: String, detail: String) throws {
        let meta: JSONValue = .object([
            ("sequence", .int(Int64(entry.sequence))), ("records", .int(Int64(entry.records))),
            ("format", .string(entry.format.rawValue)), ("reason", .string(reason)), ("detail", .string(detail)),
            ("deadLetteredAtMillis", .int(FileSystem.nowMillis())),
        ])
        try FileSystem.writeAtomically(Array(meta.serialized(pretty: true).utf8), to: directory + "/" + entry.fileName + ".json")
    }

    /// The highest sequence among the dead letters (nil if none): new batches are numbered above it.
    public var highestSequence: UInt64? { (try? list())?.last?.sequence }

    /// Dead-lettered batches, oldest first.
    public func list() throws -> [SpoolEntry] {
        var found: [SpoolEntry] = []
        for name in try FileSystem.list(directory) ?? [] {
            guard let st = try FileSystem.status(directory + "/" + name),
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else { continue }
            found.append(entry)
        }
        return found.sorted { $0.sequence < $1.sequence }
    }

    /// What was kept beside a dead letter (`<file>.json`): sequence, records, format, reason, detail,
    /// deadLetteredAtMillis. Nil if it is missing, unreadable, larger than 1 MiB or not an object. A number out of
    /// range (a time outside 1970 to 9999, a negative count) is left out, so whoever shows it cannot trip on it.
    public func metadata(_ entry: SpoolEntry) -> JSONValue? {
        guard let bytes = try? FileSystem.readState(directory + "/" + entry.fileName + ".json", maxBytes: 1 << 20),
            let document = try? JSONParser.parse(bytes), let members = document.objectValue
        else { return nil }
        let ranges: [String: ClosedRange<Int64>] = [
            "sequence": 1...Int64(SpoolEntry.maxSequence), "records": 0...Int64(SpoolEntry.maxRecords),
            "deadLetteredAtMillis": 0...SpoolEntry.maxCreatedMillis,
        ]
        return .object(
            members.filter { key, value in
                guard let range = ranges[key] else { return true }
                guard let n = value.intValue else { return false }
                return range.contains(n)
            })
    }

    /// Deletes one dead letter and its metadata.
    public func remove(_ entry: SpoolEntry) throws {
        try FileSystem.remove(directory + "/" + entry.fileName)
        try FileSystem.remove(directory + "/" + entry.fileName + ".json")
    }

    /// Deletes the given dead letters (all if nil). Returns what was deleted.
    @discardableResult
    public func purge(sequences: Set<UInt64>? = nil) throws -> [SpoolEntry] {
        let chosen = try list().filter { sequences?.contains($0.sequence) ?? true }
        for entry in chosen { try remove(entry) }
        return chosen
    }

    /// What `retry` did with one dead letter.
    public enum RetryOutcome: Sendable, Equatable {
        /// Back in the spool under this entry.
        case requeued(SpoolEntry)
        /// The spool still holds a batch with this sequence (a crash came between dead-lettering and
        /// deleting it from the spool): it is delivered from there, so the dead letter is left alone.
        case alreadySpooled
    }

    /// Moves dead letters (all if `sequences` is nil) back into the spool folder `spoolDirectory`, where the
    /// sink driver delivers them before newer batches. Safe while `run` is running: each batch is one
    /// `rename` in the same file system, and a running driver adopts it the next time its spool is empty
    /// (`Spool.adoptRequeued`); a process started later finds it like any spooled batch.
    ///
    /// A batch keeps its own sequence: it is at or below the checkpoint file's last sequence (it was committed
    /// before it was dead-lettered), so a restart treats it as committed and undelivered, never as a batch
    /// written after a gap (which would be deleted), and no sequence of the running batcher is taken.
    /// Its creation time is made new, so `spool.timeToLiveSeconds` counts from the retry.
    public func retry(into spoolDirectory: String, sequences: Set<UInt64>? = nil, nowMillis: Int64 = FileSystem.nowMillis())
        throws -> [(SpoolEntry, RetryOutcome)]
    {
        try FileSystem.makeDirectories(spoolDirectory)
        let spooled = Set(
            (try FileSystem.list(spoolDirectory) ?? []).compactMap { SpoolEntry(fileName: $0, bytes: 0)?.sequence })
        var outcomes: [(SpoolEntry, RetryOutcome)] = []
        for entry in try list() where sequences?.contains(entry.sequence) ?? true {
            if spooled.contains(entry.sequence) {
                outcomes.append((entry, .alreadySpooled))
                continue
            }
            let fresh = SpoolEntry(
                sequence: entry.sequence, createdMillis: nowMillis, records: entry.records, bytes: entry.bytes,
                format: entry.format)
            let from = directory + "/" + entry.fileName
            let to = spoolDirectory + "/" + fresh.fileName
            try syscallRetrying("rename", path: to) { rename(from, to) }
            try FileSystem.syncDirectory(spoolDirectory)
            try FileSystem.remove(from + ".json")
            outcomes.append((entry, .requeued(fresh)))
        }
        return outcomes
    }

    private func trim() throws {
        var entries = try list()
        var total = entries.reduce(0) { $0 + $1.bytes }
        while total > maxBytes, entries.count > 1 {
            let first = entries.removeFirst()
            total -= first.bytes
            try FileSystem.remove(directory + "/" + first.fileName)
            try FileSystem.remove(directory + "/" + first.fileName + ".json")
        }
    }
}
