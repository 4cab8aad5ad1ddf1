import Logging
import Synchronization

/// Delivers spooled batches in order, one at a time, and deletes each only after the sink confirmed it.
/// Retryable failures wait for the upstream's `Retry-After` or for backoff; permanent ones go to the
/// dead-letter folder so the pipeline keeps moving.
public final class SinkDriver: Sendable {
    let spool: Spool
    let sink: any Sink
    let deadLetters: DeadLetterStore
    let counters: Counters
    let checkpoints: CheckpointStore
    let logger: Logger

    private struct State {
        var lastDeliveryMillis: Int64?
        var lastError: String?
    }
    private let state = Mutex(State())

    public init(
        spool: Spool, sink: any Sink, deadLetters: DeadLetterStore, checkpoints: CheckpointStore, counters: Counters,
        logger: Logger
    ) {
        self.checkpoints = checkpoints
        self.spool = spool
        self.sink = sink
        self.deadLetters = deadLetters
        self.counters = counters
        self.logger = logger
    }

    public var lastDeliveryMillis: Int64? { state.withLock { $0.lastDeliveryMillis } }
    public var lastError: String? { state.withLock { $0.lastError } }

    /// How long to go on.
    public enum Until: Sendable {
        /// Until cancelled, waiting for new batches when the spool is empty.
        case cancelled
        /// Until the spool is empty, giving up on a batch after `attempts` retryable failures or at `deadline`.
        case empty(attempts: Int, deadline: ContinuousClock.Instant?)
    }

    /// Delivers until told to stop. Returns true if the spool is empty at the end.
    @discardableResult
    public func run(until: Until) async -> Bool {
        var backoff = Backoff()
        var attempts = 0
        var admissions = spool.admissions.makeAsyncIterator()
        // Delivered batches whose files wait for the checkpoint file to cover them.
        var delivered: [SpoolEntry] = []
        defer { settle(&delivered) }
        while !Task.isCancelled {
            if case .empty(_, let deadline?) = until, ContinuousClock.now >= deadline { break }
            spool.expire(nowMillis: FileSystem.nowMillis())
            guard let entry = spool.oldest else {
                settle(&delivered)
                if case .empty = until { return true }
                guard await admissions.next() != nil else { break }
                continue
            }
            let payload: [UInt8]
            do {
                guard let bytes = try spool.read(entry) else {
                    spool.remove(entry)  // dropped by the budget meanwhile
                    continue
                }
                payload = bytes
            } catch {
                logger.error("cannot read spooled batch \(entry.sequence): \(error)")
                counters.add(.deliveryFailures)
                if !(await pause(backoff.next(), until: until)) { break }
                continue
            }
            let result = await sink.deliver(
                SinkBatch(sequence: entry.sequence, payload: payload, records: entry.records, format: entry.format))
            switch result {
            case .delivered:
                spool.release(entry)
                delivered.append(entry)
                // A crash before the checkpoint file covers a delivered batch sends it again: after every
                // delivery that is at most this one batch; a sink that replaces on re-delivery can wait longer.
                if !sink.idempotent || delivered.count >= 16 { settle(&delivered) }
                counters.add(.batchesDelivered)
                counters.add(.recordsDelivered, entry.records)
                counters.add(.bytesDelivered, Int(entry.bytes))
                state.withLock {
                    $0.lastDeliveryMillis = FileSystem.nowMillis()
                    $0.lastError = nil
                }
                if attempts > 0 { logger.info("sink \(sink.name) is delivering again") }
                backoff.reset()
                attempts = 0
            case .retryable(let reason, let retryAfter):
                attempts += 1
                counters.add(.deliveryRetries)
                state.withLock { $0.lastError = reason }
                let delay = retryAfter ?? backoff.next()
                if attempts == 1 || attempts % 10 == 0 {
                    logger.warning(
                        "sink \(sink.name) failed batch \(entry.sequence) (attempt \(attempts)), retrying in \(delay): \(reason)"
                    )
                }
                if case .empty(let maxAttempts, _) = until, attempts >= maxAttempts { return false }
                if !(await pause(delay, until: until)) { break }
            case .permanent(let reason, let detail):
                do {
                    try deadLetters.store(entry, payload: payload, reason: reason, detail: detail)
                    counters.add(.batchesDeadLettered)
                    counters.add(.recordsDeadLettered, entry.records)
                    logger.error(
                        "sink \(sink.name) refused batch \(entry.sequence) (\(entry.records) records) for good: \(reason); kept in \(deadLetters.directory)"
                    )
                    spool.release(entry)
                    delivered.append(entry)
                    settle(&delivered)
                } catch {
                    logger.error("cannot dead-letter batch \(entry.sequence): \(error)")
                    if !(await pause(backoff.next(), until: until)) { break }
                }
                state.withLock { $0.lastError = reason }
                attempts = 0
            }
        }
        return spool.oldest == nil
    }

    /// Writes the checkpoint file (covering every spooled batch so far), then deletes the delivered files.
    private func settle(_ delivered: inout [SpoolEntry]) {
        guard !delivered.isEmpty else { return }
        do {
            try checkpoints.commit(counters: counters)
        } catch {
            // Keep the files: their positions are still needed. They are retried at the next settle.
            counters.add(.checkpointWriteErrors)
            logger.error("cannot write checkpoints: \(error)")
            return
        }
        for entry in delivered { spool.deleteFile(entry) }
        delivered.removeAll()
    }

    /// Sleeps, but not past the deadline. False if cancelled or the deadline came first.
    private func pause(_ delay: Duration, until: Until) async -> Bool {
        var wake = ContinuousClock.now + delay
        if case .empty(_, let deadline?) = until {
            if deadline <= .now { return false }
            wake = min(wake, deadline)
        }
        do { try await Task.sleep(until: wake, clock: .continuous) } catch { return false }
        return true
    }
}
