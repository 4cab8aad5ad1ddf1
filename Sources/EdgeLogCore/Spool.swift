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

/// What the spool holds: batches, records and bytes waiting, and when the oldest was made.
public struct SpoolDepth: Sendable, Equatable {
    public var batches = 0
    public var records = 0
    public var bytes: Int64 = 0
    public var oldestCreatedMillis: Int64?

    public init(batches: Int = 0, records: Int = 0, bytes: Int64 = 0, oldestCreatedMillis: Int64? = nil) {
        self.batches = batches
        self.records = records
        self.bytes = bytes
        self.oldestCreatedMillis = oldestCreatedMillis
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
    /// The highest sequence admitted in this process: every batch file at or below it is past the writer.
    private let admitted = Mutex<UInt64>(0)
    private let beforeDelete = Mutex<(@Sendable () -> Void)?>(nil)
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

    /// What the spool holds, summed without copying the entries.
    public var depth: SpoolDepth {
        entries.withLock { list in
            var depth = SpoolDepth(oldestCreatedMillis: list.first?.createdMillis)
            for entry in list {
                depth.batches += 1
                depth.records += entry.records
                depth.bytes += entry.bytes
            }
            return depth
        }
    }
    /// The budget in force (`spool.maxBytes`).
    public var maxBytes: Int64 { settings.withLock { $0.maxBytes } }

    /// Writes a batch durably (temp file, fsync, rename, fsync of the folder), first dropping what the
    /// budget requires. The batch is not visible to the sink until `admit`: its positions are committed in between.
    /// `positions`, when given, are embedded in the file (see `SpoolRecord`): the write commits them.
    /// Returns the entry and whether the positions are in the file.
    public func write(
        sequence: UInt64, payload: [UInt8], records: Int, format: BatchFormat, createdMillis: Int64,
        positions: [String: SourcePosition] = [:]
    ) throws -> (entry: SpoolEntry, embedded: Bool) {
        var bytes = payload
        var embedded = false
        if !positions.isEmpty, let withPositions = SpoolRecord.embed(positions, in: payload) {
            bytes = withPositions
            embedded = true
        }
        let entry = SpoolEntry(
            sequence: sequence, createdMillis: createdMillis, records: records, bytes: Int64(bytes.count), format: format)
        expire(nowMillis: FileSystem.nowMillis())
        makeRoom(for: entry.bytes)
        try FileSystem.writeAtomically(bytes, to: directory + "/" + entry.fileName)
        return (entry, embedded)
    }

    /// On a restart: the positions carried by the batches spooled after `committed` (the checkpoint file's last
    /// sequence), merged in order. Batches are written in parallel but committed in order, so only an unbroken
    /// run of sequences counts; a batch after a gap (a crash between two parallel writes) was never committed:
    /// it is deleted, and its records are read again.
    /// With `discard: false` (for `status`) nothing is deleted.
    public func recover(after committed: UInt64, discard discardUncommitted: Bool = true)
        -> (positions: [String: SourcePosition], lastSequence: UInt64)
    {
        var merged: [String: SourcePosition] = [:]
        var last = committed
        var discard: [SpoolEntry] = []
        for entry in snapshot where entry.sequence > committed {
            if discard.isEmpty, entry.sequence == last + 1,
                let bytes = try? FileSystem.read(directory + "/" + entry.fileName)
            {
                let positions = SpoolRecord.positions(in: bytes)
                if !positions.isEmpty {
                    for (key, position) in positions { merged[key] = position }
                    last = entry.sequence
                    continue
                }
            }
            discard.append(entry)
        }
        if !discard.isEmpty && discardUncommitted {
            entries.withLock { list in list.removeAll { e in discard.contains { $0.sequence == e.sequence } } }
            for entry in discard { try? FileSystem.remove(directory + "/" + entry.fileName) }
            logger.info("spool: \(discard.count) batch(es) written but never committed before the last stop; their records are read again")
        }
        return (merged, last)
    }

    /// Makes a written batch visible to the sink driver.
    public func admit(_ entry: SpoolEntry) {
        entries.withLock { list in
            let index = list.firstIndex(where: { $0.sequence > entry.sequence }) ?? list.count
            list.insert(entry, at: index)
        }
        admitted.withLock { $0 = max($0, entry.sequence) }
        wakeup.yield()
    }

    /// Wakes a driver waiting for admissions, to look for requeued batches.
    public func nudge() { wakeup.yield() }

    /// The highest sequence admitted since this process started (0 if none).
    public var admittedThrough: UInt64 { admitted.withLock { $0 } }

    /// Takes into the queue batch files that `DeadLetterStore.retry` moved into the folder while this process
    /// runs: files at or below `bound` (no higher sequence can be the writer's) that the queue does not hold.
    /// Call it only when no delivered batch waits for its file to be deleted, or that file would be taken again.
    @discardableResult
    public func adoptRequeued(through bound: UInt64) -> [SpoolEntry] {
        guard let names = try? FileSystem.list(directory) else { return [] }
        let held = Set(snapshot.map(\.sequence))
        var found: [SpoolEntry] = []
        for name in names where !name.hasPrefix(".tmp-") {
            guard let parsed = SpoolEntry(fileName: name, bytes: 0), parsed.sequence <= bound, !held.contains(parsed.sequence),
                let st = try? FileSystem.status(directory + "/" + name),
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else { continue }
            found.append(entry)
        }
        guard !found.isEmpty else { return [] }
        entries.withLock { list in
            list.append(contentsOf: found)
            list.sort { $0.sequence < $1.sequence }
        }
        logger.info("spool: took \(found.count) batch(es), \(found.reduce(0) { $0 + $1.records }) records back from the dead-letter folder")
        return found
    }

    /// The batch as it goes on the wire (plain gzip header).
    public func read(_ entry: SpoolEntry) throws -> [UInt8]? {
        try FileSystem.read(directory + "/" + entry.fileName).map(SpoolRecord.wireBytes)
    }

    /// Removes a delivered (or dead-lettered) batch. Removing one already dropped is a no-op.
    public func remove(_ entry: SpoolEntry) {
        release(entry)
        deleteFile(entry)
    }

    /// Takes a delivered batch out of the queue; its file goes once the checkpoint file covers it (`deleteFile`).
    public func release(_ entry: SpoolEntry) {
        entries.withLock { $0.removeAll { $0.sequence == entry.sequence } }
    }

    public func deleteFile(_ entry: SpoolEntry) {
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

    /// Called before batches are deleted undelivered, so the checkpoint file first takes over the positions
    /// their files carried (otherwise a restart would read them again).
    public func setBeforeDelete(_ hook: @escaping @Sendable () -> Void) { beforeDelete.withLock { $0 = hook } }

    private func drop(_ batches: [SpoolEntry], reason: String, counters names: (Counters.Name, Counters.Name, Counters.Name)) {
        beforeDelete.withLock { $0 }?()
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
