import Logging

/// The only writer of `checkpoints.json`, in the spirit of an ordered finaliser: events come in, the committed
/// positions advance in sequence order, and this is the one place that writes the file.
/// - `spooled`: a batch is durably in the spool (the batch writer's admission step, strictly in sequence order).
///   Its positions are committed: in memory at once, since its file carries them; written here only when they
///   could not travel in the file.
/// - `aboutToDelete`: spool files are about to go (delivered, dead-lettered, dropped by the budget or TTL). The
///   file is written first so it covers every batch spooled so far; otherwise a restart would lose the positions
///   those files carried. The caller deletes only if the write succeeded (or, for drops, regardless: the budget
///   must hold, and a restart then reads those records again).
/// - `flush`: the start and the end of a run (positions rebuilt at the start, counters at the end).
///
/// An "about to delete" finds the file covering every position already when nothing was spooled since the last
/// write: then only the counters would change, and they are written at most once a second. A sink driver settling
/// every delivery while draining a backlog does not fsync the same positions again for each batch.
///
/// An actor: a task waiting for it suspends instead of blocking a thread. The file I/O (each write fsyncs) runs on
/// a `BlockingPool.Lane`, one job per write (the reserve's release and the retry inside it), so writes never
/// overlap and land in the order their states were taken: a later state never lands before an earlier one.
/// Next to the file it keeps `checkpoints.reserve`, 64 KiB or twice the file, whichever is larger: when the disk
/// is full a checkpoint write deletes it and tries again, so delivered batches can still be settled and their
/// files deleted (the space that lets the spool move again). It is made again once there is room.
public actor CheckpointCommitter {
    public nonisolated let store: CheckpointStore
    /// Where the file I/O runs, in order.
    private nonisolated let lane = BlockingPool.Lane()
    private let counters: Counters
    private let logger: Logger
    private let reservePath: String
    private var reserveBytes: Int
    private var reserveRetryAfterMillis: Int64 = 0
    /// Failed writes since the last one that succeeded.
    private var failures = 0
    /// The state version the file on disk holds, and when it was written.
    private var writtenVersion: UInt64?
    private var writtenAt = ContinuousClock.now
    /// How often a write that would change only the counters is made.
    static let countersInterval: Duration = .seconds(1)

    public init(store: CheckpointStore, counters: Counters, logger: Logger) {
        self.store = store
        self.counters = counters
        self.logger = logger
        let directory = FileSystem.directory(of: store.path)
        reservePath = directory + "/checkpoints.reserve"
        let st = try? FileSystem.status(reservePath)
        reserveBytes = st.map { Int($0.st_size) } ?? 0
        // Temporary files of writes a crash interrupted.
        for name in (try? FileSystem.list(directory)) ?? [] where FileSystem.isTemporary(name) {
            if name.hasPrefix(".tmp-" + CheckpointStore.fileName + "-") || name.hasPrefix(".tmp-checkpoints.reserve-") {
                try? FileSystem.remove(directory + "/" + name)
            }
        }
    }

    /// A batch is durably spooled (called in sequence order): its positions are committed. `writeNow` when they
    /// are not in its file (they did not fit in the header): then the file is written before the batch is admitted.
    public func spooled(sequence: UInt64, positions: [String: SourcePosition], writeNow: Bool) async {
        store.apply(positions, sequence: sequence)
        if writeNow { await write() }
    }

    /// Spool files are about to be deleted: writes the file. False if it could not be written (the files whose
    /// positions it would carry must stay).
    @discardableResult
    public func aboutToDelete() async -> Bool {
        if let writtenVersion, writtenVersion == store.version, ContinuousClock.now - writtenAt < Self.countersInterval {
            return true  // the file covers every position already
        }
        return await write()
    }

    /// Writes the file now (start and end of a run).
    @discardableResult
    public func flush() async -> Bool { await write() }

    @discardableResult
    private func write() async -> Bool {
        let (bytes, version) = store.encoded(counters: counters)
        let (path, reservePath, mayRelease) = (store.path, self.reservePath, reserveBytes > 0)
        // One job: a full disk releases the reserve and tries again before any later write runs.
        let (outcome, released) = await lane.run { () -> (Result<Void, any Error>, Bool) in
            let first = Result { try FileSystem.writeAtomically(bytes, to: path) }
            guard case .failure(let error as SystemError) = first, error.isNoSpace, mayRelease else { return (first, false) }
            try? FileSystem.remove(reservePath)
            return (Result { try FileSystem.writeAtomically(bytes, to: path) }, true)
        }
        if released {
            if reserveBytes > 0 {  // (a write queued behind the one that released it finds it gone)
                logger.warning(
                    "the disk is full: released the \(reserveBytes)-byte checkpoints.reserve so the checkpoint file can be written and delivered batches deleted")
            }
            reserveBytes = 0
            reserveRetryAfterMillis = FileSystem.nowMillis() + 60_000
        }
        switch outcome {
        case .success:
            if failures > 0 { logger.info("checkpoints written again after \(failures) failed attempt(s)") }
            failures = 0
            writtenVersion = version
            writtenAt = ContinuousClock.now
            await keepReserve(for: bytes.count)
            return true
        case .failure(let error):
            counters.add(.checkpointWriteErrors)
            failures += 1
            if failures == 1 || failures % 100 == 0 {
                logger.error(
                    "cannot write checkpoints (\(failures) attempt(s) so far): \(error); the spool files whose positions it would record are kept until it can")
            }
            return false
        }
    }

    /// Makes the reserve again when it is missing or too small for the file, at most once a minute when that fails.
    private func keepReserve(for size: Int) async {
        let wanted = max(64 << 10, (2 * size + 0xFFFF) & ~0xFFFF)
        guard reserveBytes < wanted else { return }
        let now = FileSystem.nowMillis()
        guard now >= reserveRetryAfterMillis else { return }
        let reservePath = self.reservePath
        let made = await lane.run { (try? FileSystem.writeAtomically([UInt8](repeating: 0, count: wanted), to: reservePath)) != nil }
        if made {
            reserveBytes = wanted
        } else {
            reserveRetryAfterMillis = now + 60_000
        }
    }
}
