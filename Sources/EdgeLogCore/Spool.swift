import Logging
import Synchronization

/// One batch waiting in the spool. Its metadata lives in the file name, so a restart needs no index:
/// `<sequence>-<created ms>-<records>.<format>.gz`, and the file is a plain gzip member (`zcat` reads it).
public struct SpoolEntry: Sendable, Equatable {
    public let sequence: UInt64
    public let createdMillis: Int64
    public let records: Int
    public let bytes: Int64
    public let format: BatchFormat

    public var fileName: String {
        let seq = String(sequence)
        return String(repeating: "0", count: max(0, 20 - seq.count)) + seq
            + "-\(createdMillis)-\(records).\(format.rawValue).gz"
    }

    init(sequence: UInt64, createdMillis: Int64, records: Int, bytes: Int64, format: BatchFormat) {
        self.sequence = sequence
        self.createdMillis = createdMillis
        self.records = records
        self.bytes = bytes
        self.format = format
    }

    public init?(fileName: String, bytes: Int64) {
        guard fileName.hasSuffix(".gz") else { return nil }
        let parts = fileName.dropLast(3).split(separator: ".")
        guard parts.count == 2, let format = BatchFormat(rawValue: String(parts[1])) else { return nil }
        let fields = parts[0].split(separator: "-")
        guard fields.count == 3, let seq = UInt64(fields[0]), let created = Int64(fields[1]), let records = Int(fields[2])
        else { return nil }
        self.init(sequence: seq, createdMillis: created, records: records, bytes: bytes, format: format)
    }
}

/// The only disk buffer: compressed batches between the batcher and the sink, bounded by bytes and age.
/// When a batch would exceed `maxBytes` the oldest are dropped to admit it; batches older than the TTL are
/// dropped. Every drop is counted and logged, once per event.
public final class Spool: Sendable {
    public let directory: String
    private let settings: Mutex<SpoolSettings>
    private let counters: Counters
    private let logger: Logger
    private let entries = Mutex<[SpoolEntry]>([])
    private let wakeup: AsyncStream<Void>.Continuation
    /// Yields whenever a batch is admitted; the sink driver waits on it when the spool is empty.
    public let admissions: AsyncStream<Void>

    public init(directory: String, settings: SpoolSettings, counters: Counters, logger: Logger) throws {
        self.directory = directory
        self.settings = Mutex(settings)
        self.counters = counters
        self.logger = logger
        (admissions, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try FileSystem.makeDirectories(directory)
        var found: [SpoolEntry] = []
        for name in try FileSystem.list(directory) ?? [] {
            if name.hasPrefix(".tmp-") {
                // A write that did not complete: its records were never committed, they will be read again.
                try? FileSystem.remove(directory + "/" + name)
                continue
            }
            guard let st = try FileSystem.status(directory + "/" + name),
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else { continue }
            found.append(entry)
        }
        found.sort { $0.sequence < $1.sequence }
        entries.withLock { $0 = found }
        if !found.isEmpty { wakeup.yield() }
    }

    public func update(settings new: SpoolSettings) { settings.withLock { $0 = new } }

    public var snapshot: [SpoolEntry] { entries.withLock { $0 } }
    public var oldest: SpoolEntry? { entries.withLock { $0.first } }
    public var totalBytes: Int64 { entries.withLock { $0.reduce(0) { $0 + $1.bytes } } }
    public var highestSequence: UInt64? { entries.withLock { $0.last?.sequence } }

    /// Writes a batch durably (temp file, fsync, rename, fsync of the folder), first dropping what the
    /// budget requires. The batch is not visible to the sink until `admit`: its positions are committed in between.
    public func write(sequence: UInt64, payload: [UInt8], records: Int, format: BatchFormat, createdMillis: Int64) throws
        -> SpoolEntry
    {
        let entry = SpoolEntry(
            sequence: sequence, createdMillis: createdMillis, records: records, bytes: Int64(payload.count), format: format)
        expire(nowMillis: FileSystem.nowMillis())
        makeRoom(for: entry.bytes)
        try FileSystem.writeAtomically(payload, to: directory + "/" + entry.fileName)
        return entry
    }

    /// Makes a written batch visible to the sink driver.
    public func admit(_ entry: SpoolEntry) {
        entries.withLock { list in
            let index = list.firstIndex(where: { $0.sequence > entry.sequence }) ?? list.count
            list.insert(entry, at: index)
        }
        wakeup.yield()
    }

    public func read(_ entry: SpoolEntry) throws -> [UInt8]? {
        try FileSystem.read(directory + "/" + entry.fileName)
    }

    /// Removes a delivered (or dead-lettered) batch. Removing one already dropped is a no-op.
    public func remove(_ entry: SpoolEntry) {
        entries.withLock { $0.removeAll { $0.sequence == entry.sequence } }
        try? FileSystem.remove(directory + "/" + entry.fileName)
    }

    /// Drops batches older than the TTL.
    public func expire(nowMillis: Int64) {
        let ttl = settings.withLock { $0.timeToLiveSeconds } * 1000
        let expired = entries.withLock { list -> [SpoolEntry] in
            let old = list.filter { nowMillis - $0.createdMillis > ttl }
            list.removeAll { nowMillis - $0.createdMillis > ttl }
            return old
        }
        guard !expired.isEmpty else { return }
        drop(expired, reason: "older than spool.timeToLiveSeconds (\(ttl / 1000) s)",
            counters: (.spoolDroppedTTLBatches, .spoolDroppedTTLRecords, .spoolDroppedTTLBytes))
    }

    /// The disk is full: drop the oldest undelivered batch so the newest can be kept. False if none is left.
    public func dropOldestForSpace() -> Bool {
        guard let first = entries.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return false }
        drop([first], reason: "the disk is full; the oldest make room for the newest",
            counters: (.spoolDroppedSizeBatches, .spoolDroppedSizeRecords, .spoolDroppedSizeBytes))
        return true
    }

    private func makeRoom(for bytes: Int64) {
        let maxBytes = settings.withLock { $0.maxBytes }
        let evicted = entries.withLock { list -> [SpoolEntry] in
            var total = list.reduce(0) { $0 + $1.bytes }
            var out: [SpoolEntry] = []
            while total + bytes > maxBytes, !list.isEmpty {
                let first = list.removeFirst()
                total -= first.bytes
                out.append(first)
            }
            return out
        }
        guard !evicted.isEmpty else { return }
        drop(evicted, reason: "spool.maxBytes (\(maxBytes)) reached; the oldest make room for the newest",
            counters: (.spoolDroppedSizeBatches, .spoolDroppedSizeRecords, .spoolDroppedSizeBytes))
    }

    private func drop(_ batches: [SpoolEntry], reason: String, counters names: (Counters.Name, Counters.Name, Counters.Name)) {
        for entry in batches { try? FileSystem.remove(directory + "/" + entry.fileName) }
        let records = batches.reduce(0) { $0 + $1.records }
        let bytes = batches.reduce(Int64(0)) { $0 + $1.bytes }
        counters.add(names.0, batches.count)
        counters.add(names.1, records)
        counters.add(names.2, Int(bytes))
        logger.warning(
            "spool dropped \(batches.count) undelivered batch(es), \(records) records, \(bytes) bytes: \(reason)")
    }
}
