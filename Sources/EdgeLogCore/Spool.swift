import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One batch waiting in the spool. Its metadata lives in the file name, so a restart needs no index:
/// `<sequence>-<created ms>-<records>.<format>.gz`, and the file is a plain gzip member (`zcat` reads it).
public struct SpoolEntry: Sendable, Equatable {
    public let sequence: UInt64
    public let createdMillis: Int64
    public let records: Int
    public let bytes: Int64
    public let format: BatchFormat

    /// Bounds of what a file name may say (anything else is not a batch EdgeLog wrote): sequences from 1 to 2^53
    /// (a batch a millisecond for 285,000 years), creation times from 1970 to the end of 9999, at most a million
    /// records (a batch holds at most 1,000,000 bytes).
    public static let maxSequence: UInt64 = 1 << 53
    public static let maxCreatedMillis: Int64 = 253_402_300_799_999
    public static let maxRecords = 1_000_000
    /// The largest spool file read (a batch of at most 1,000,000 bytes compresses to less, plus its header).
    public static let maxFileBytes: Int64 = 8 << 20

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

    /// Parses a batch file's name; nil if it is not one, or a number in it is out of range.
    public init?(fileName: String, bytes: Int64) {
        guard fileName.hasSuffix(".gz") else { return nil }
        let parts = fileName.dropLast(3).split(separator: ".")
        guard parts.count == 2, let format = BatchFormat(rawValue: String(parts[1])) else { return nil }
        let fields = parts[0].split(separator: "-")
        guard fields.count == 3, let seq = UInt64(fields[0]), let created = Int64(fields[1]), let records = Int(fields[2]),
            (1...Self.maxSequence).contains(seq), (0...Self.maxCreatedMillis).contains(created),
            (0...Self.maxRecords).contains(records), bytes >= 0
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

/// The spool could not be written: since when, why, how often it was tried. Reading waits meanwhile.
public struct SpoolWriteBlock: Sendable, Equatable {
    public var sinceMillis: Int64
    public var reason: String
    public var attempts: Int
    /// The file system is full (ENOSPC, EDQUOT), rather than failing otherwise (EIO, permissions).
    public var diskFull: Bool

    public init(sinceMillis: Int64, reason: String, attempts: Int, diskFull: Bool) {
        self.sinceMillis = sinceMillis
        self.reason = reason
        self.attempts = attempts
        self.diskFull = diskFull
    }
}

/// The only disk buffer: compressed batches between the batcher and the sink, bounded by bytes and age.
/// When a batch would exceed `maxBytes` the oldest are dropped to admit it; batches older than the TTL are
/// dropped. Every drop is counted and logged, once per event. Nothing else drops a batch: a write that fails
/// (a full disk) is retried by the writer while the sources wait.
public final class Spool: Sendable {
    public let directory: String
    private let settings: Mutex<SpoolSettings>
    private let counters: Counters
    private let logger: Logger
    /// Decompresses files without a checksum, to check them (nil: they are trusted; `edgelog status` reads only names).
    private let verifier: (any BatchCompressor)?
    private let entries = Mutex<[SpoolEntry]>([])
    /// The highest sequence admitted in this process: every batch file at or below it is past the writer.
    private let admitted = Mutex<UInt64>(0)
    private let beforeDelete = Mutex<(@Sendable () async -> Void)?>(nil)
    private let blocked = Mutex<SpoolWriteBlock?>(nil)
    private let wakeup: AsyncStream<Void>.Continuation
    /// Yields whenever a batch is admitted; the sink driver waits on it when the spool is empty.
    public let admissions: AsyncStream<Void>

    /// - Parameters:
    ///   - verifier: decompresses files without a checksum to check them (nil: they are trusted).
    ///   - cleanUp: remove temporary files of interrupted writes (false for `edgelog status`, which only reads and
    ///     may run beside a running process whose writes they are).
    public init(
        directory: String, settings: SpoolSettings, counters: Counters, logger: Logger,
        verifier: (any BatchCompressor)? = nil, cleanUp: Bool = true
    ) throws {
        self.directory = directory
        self.settings = Mutex(settings)
        self.counters = counters
        self.logger = logger
        self.verifier = verifier
        (admissions, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try FileSystem.makeDirectories(directory)
        var found: [SpoolEntry] = []
        var strangers: [String] = []
        for name in try FileSystem.list(directory) ?? [] {
            if FileSystem.isTemporary(name) {
                // A write that did not complete: its records were never committed, they will be read again.
                if cleanUp { try? FileSystem.remove(directory + "/" + name) }
                continue
            }
            guard let st = try FileSystem.status(directory + "/" + name), st.st_mode & S_IFMT == S_IFREG,
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else {
                strangers.append(name)
                continue
            }
            found.append(entry)
        }
        found.sort { $0.sequence < $1.sequence }
        entries.withLock { $0 = found }
        if !strangers.isEmpty {
            logger.warning(
                "spool: \(strangers.count) entr\(strangers.count == 1 ? "y" : "ies") in \(directory) \(strangers.count == 1 ? "is" : "are") not a batch file (or a number in the name is out of range) and \(strangers.count == 1 ? "is" : "are") left alone: \(strangers.sorted().prefix(5).joined(separator: ", "))"
            )
        }
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

    /// Writes a batch durably (temp file, fsync, rename, fsync of the folder, on the `BlockingPool`), first dropping what the
    /// budget requires. The batch is not visible to the sink until `admit`: its positions are committed in between.
    /// The file carries a checksum and, when given and they fit, `positions` (see `SpoolRecord`): then the write
    /// commits them. Returns the entry and whether the positions are in the file.
    public func write(
        sequence: UInt64, payload: [UInt8], records: Int, format: BatchFormat, createdMillis: Int64,
        positions: [String: SourcePosition] = [:]
    ) async throws -> (entry: SpoolEntry, embedded: Bool) {
        let (bytes, embedded) = SpoolRecord.make(payload, positions: positions) ?? (payload, false)
        let entry = SpoolEntry(
            sequence: sequence, createdMillis: min(max(0, createdMillis), SpoolEntry.maxCreatedMillis),
            records: records, bytes: Int64(bytes.count), format: format)
        await expire(nowMillis: FileSystem.nowMillis())
        await makeRoom(for: entry.bytes)
        let path = directory + "/" + entry.fileName
        try await BlockingPool.run { () throws -> Void in try FileSystem.writeAtomically(bytes, to: path) }
        return (entry, embedded)
    }

    // MARK: - A write that fails

    /// Why the spool cannot be written, while it cannot (nil when writes succeed).
    public var writeBlocked: SpoolWriteBlock? { blocked.withLock { $0 } }

    /// Notes a failed write. Returns true when this starts an episode (the first failure since the last success).
    @discardableResult
    public func noteWriteFailed(_ error: any Error, nowMillis: Int64 = FileSystem.nowMillis()) -> Bool {
        let diskFull = (error as? SystemError)?.isNoSpace ?? false
        return blocked.withLock { block in
            if block == nil {
                block = SpoolWriteBlock(sinceMillis: nowMillis, reason: "\(error)", attempts: 1, diskFull: diskFull)
                return true
            }
            block?.attempts += 1
            block?.reason = "\(error)"
            block?.diskFull = diskFull
            return false
        }
    }

    /// Notes a successful write; returns the episode it ends, if one was going on.
    @discardableResult
    public func noteWriteSucceeded() -> SpoolWriteBlock? {
        blocked.withLock { block in
            defer { block = nil }
            return block
        }
    }

    // MARK: - Restart

    /// On a restart: the positions carried by the batches spooled after `committed` (the checkpoint file's last
    /// sequence), merged in order. Batches are written in parallel but committed in order, so only an unbroken
    /// run of sequences counts; a batch after a gap (a crash between two parallel writes), or one whose
    /// checksum fails, was never committed: it is deleted with every batch after it, and their records are read
    /// again. With `discard: false` (for `status`) nothing is deleted.
    public func recover(after committed: UInt64, discard discardUncommitted: Bool = true)
        -> (positions: [String: SourcePosition], lastSequence: UInt64)
    {
        var merged: [String: SourcePosition] = [:]
        var last = committed
        var discard: [SpoolEntry] = []
        var damaged: String?
        for entry in snapshot where entry.sequence > committed {
            if discard.isEmpty, entry.sequence == last + 1, let bytes = readForRecovery(entry) {
                if case .damaged(let reason) = SpoolRecord.verify(bytes) {
                    damaged = "batch \(entry.sequence) is damaged (\(reason))"
                } else {
                    let positions = SpoolRecord.positions(in: bytes)
                    if !positions.isEmpty {
                        for (key, position) in positions { merged[key] = position }
                        last = entry.sequence
                        continue
                    }
                }
            }
            discard.append(entry)
        }
        if !discard.isEmpty && discardUncommitted {
            entries.withLock { list in list.removeAll { e in discard.contains { $0.sequence == e.sequence } } }
            for entry in discard { try? FileSystem.remove(directory + "/" + entry.fileName) }
            if let damaged {
                logger.error(
                    "spool: \(damaged); it and the \(discard.count - 1) batch(es) after it were never committed: their records are read again")
            } else {
                logger.info(
                    "spool: \(discard.count) batch(es) written but never committed before the last stop; their records are read again")
            }
        }
        return (merged, last)
    }

    /// Without a usable checkpoint file: the positions every batch file carries, merged in sequence order, and the
    /// highest sequence. Nothing is deleted: every batch is still delivered. The highest batch's positions are left
    /// out when the one before it is not there: a crash between two parallel writes can leave that gap, and its
    /// positions would skip the missing batch's records; they are read again instead (sent twice at worst, never
    /// lost). Damaged files carry no trusted positions; they are dead-lettered when their turn comes.
    /// `carried` counts the batches whose positions were taken.
    public func rebuild() -> (positions: [String: SourcePosition], lastSequence: UInt64, carried: Int) {
        var list = snapshot
        let last = list.last?.sequence ?? 0
        if let top = list.last, top.sequence > 1, list.count < 2 || list[list.count - 2].sequence != top.sequence - 1 {
            list.removeLast()
        }
        var merged: [String: SourcePosition] = [:]
        var carried = 0
        for entry in list {
            guard let bytes = readForRecovery(entry) else { continue }
            if case .damaged = SpoolRecord.verify(bytes) { continue }
            let positions = SpoolRecord.positions(in: bytes)
            if !positions.isEmpty { carried += 1 }
            for (key, position) in positions { merged[key] = position }
        }
        return (merged, last, carried)
    }

    private func readForRecovery(_ entry: SpoolEntry) -> [UInt8]? {
        try? FileSystem.readState(directory + "/" + entry.fileName, maxBytes: Int(SpoolEntry.maxFileBytes))
    }

    // MARK: - Delivery

    /// Makes a written batch visible to the sink driver.
    public func admit(_ entry: SpoolEntry) {
        entries.withLock { list in
            let index = list.firstIndex(where: { $0.sequence > entry.sequence }) ?? list.count
            list.insert(entry, at: index)
        }
        admitted.withLock { $0 = max($0, entry.sequence) }
        wakeup.yield()
    }

    /// The oldest admitted batch after `sequence` (the oldest of all if nil), found without copying the queue.
    public func first(after sequence: UInt64?) -> SpoolEntry? {
        entries.withLock { list in
            guard let sequence else { return list.first }
            var low = 0
            var high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid].sequence > sequence { high = mid } else { low = mid + 1 }
            }
            return low < list.count ? list[low] : nil
        }
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
        for name in names where !FileSystem.isTemporary(name) {
            guard let parsed = SpoolEntry(fileName: name, bytes: 0), parsed.sequence <= bound, !held.contains(parsed.sequence),
                let st = try? FileSystem.status(directory + "/" + name), st.st_mode & S_IFMT == S_IFREG,
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

    /// What reading a batch for delivery found.
    public enum Read: Sendable, Equatable {
        /// The batch as it goes on the wire (plain gzip header), checked.
        case batch([UInt8])
        /// The file is gone (dropped by the budget meanwhile).
        case gone
        /// The file is not what was written: why, and its bytes (nil if too large to read).
        case damaged(reason: String, bytes: [UInt8]?)
    }

    /// Reads a batch and checks it before it goes to a sink: the gzip framing, and the checksum in its header (or,
    /// for a file without one, a full decompression). Throws only if the file cannot be read (an I/O error).
    public func read(_ entry: SpoolEntry) throws -> Read {
        let path = directory + "/" + entry.fileName
        let bytes: [UInt8]
        do {
            guard let read = try FileSystem.readState(path, maxBytes: Int(SpoolEntry.maxFileBytes)) else { return .gone }
            bytes = read
        } catch let error as SystemError where error.errno == EFBIG {
            return .damaged(reason: "larger than \(SpoolEntry.maxFileBytes) bytes: not a batch EdgeLog wrote", bytes: nil)
        }
        switch SpoolRecord.verify(bytes) {
        case .damaged(let reason):
            return .damaged(reason: reason, bytes: bytes)
        case .intact:
            return .batch(SpoolRecord.wireBytes(bytes))
        case .unchecked:
            let wire = SpoolRecord.wireBytes(bytes)
            if let verifier {
                do {
                    _ = try verifier.decompress(wire)
                } catch {
                    return .damaged(reason: "gzip: \(error)", bytes: bytes)
                }
            }
            return .batch(wire)
        }
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

    /// Whether the queue still holds the batch with this sequence (it was not dropped meanwhile).
    public func holds(_ sequence: UInt64) -> Bool { entries.withLock { $0.contains { $0.sequence == sequence } } }

    // MARK: - Drops

    /// Drops batches older than the TTL.
    public func expire(nowMillis: Int64) async {
        let ttl = settings.withLock { $0.timeToLiveSeconds } * 1000
        let expired = entries.withLock { list -> [SpoolEntry] in
            let old = list.filter { nowMillis - $0.createdMillis > ttl }
            list.removeAll { nowMillis - $0.createdMillis > ttl }
            return old
        }
        guard !expired.isEmpty else { return }
        await drop(expired, reason: "older than spool.timeToLiveSeconds (\(ttl / 1000) s)",
            counters: (.spoolDroppedTTLBatches, .spoolDroppedTTLRecords, .spoolDroppedTTLBytes))
    }

    private func makeRoom(for bytes: Int64) async {
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
        await drop(evicted, reason: "spool.maxBytes (\(maxBytes)) reached; the oldest make room for the newest",
            counters: (.spoolDroppedSizeBatches, .spoolDroppedSizeRecords, .spoolDroppedSizeBytes))
    }

    /// Called before batches are deleted undelivered, so the checkpoint file first takes over the positions
    /// their files carried (otherwise a restart would read them again): the committer's "about to delete".
    public func setBeforeDelete(_ hook: @escaping @Sendable () async -> Void) { beforeDelete.withLock { $0 = hook } }

    private func drop(_ batches: [SpoolEntry], reason: String, counters names: (Counters.Name, Counters.Name, Counters.Name)) async {
        if let hook = beforeDelete.withLock({ $0 }) { await hook() }
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
