import Logging

/// Takes closed batches from the batcher, compresses up to `concurrency` of them at once (compression is the
/// costliest step, so it uses every core), and then, strictly in sequence order, writes each to the spool and
/// commits its source positions. A position is therefore never committed before its records are on disk,
/// and never past a batch that is not.
public struct BatchWriter: Sendable {
    let batcher: Batcher
    let spool: Spool
    let checkpoints: CheckpointStore
    let compressor: any BatchCompressor
    let level: Int
    let concurrency: Int
    let counters: Counters
    let logger: Logger

    func run() async throws {
        var turnstile: Turnstile?
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            while let batch = await batcher.next() {
                let gate = turnstile ?? Turnstile(first: batch.sequence)
                turnstile = gate
                if inFlight >= concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                group.addTask {
                    // Compression and the spool write of different batches run side by side (their fsyncs
                    // overlap); the commit of positions happens strictly in sequence order.
                    let written = try await write(batch)
                    guard await gate.wait(for: batch.sequence) else { throw CancellationError() }
                    commit(batch, written: written)
                    await gate.pass()
                }
                inFlight += 1
            }
            try await group.waitForAll()
        }
    }

    private func write(_ batch: SealedBatch) async throws -> (entry: SpoolEntry, embedded: Bool)? {
        guard batch.records > 0 else { return nil }
        let payload = try compressor.compress(batch.payload, level: level)
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
        while true {
            do {
                return try spool.write(
                    sequence: batch.sequence, payload: payload, records: batch.records, format: batch.format,
                    createdMillis: batch.createdMillis, positions: batch.positions)
            } catch {
                counters.add(.spoolWriteErrors)
                logger.error("cannot write batch \(batch.sequence) to the spool, will retry: \(error)")
                if let e = error as? SystemError, e.isNoSpace, spool.dropOldestForSpace() { continue }
                // Records stay in memory and sources wait behind them: nothing is committed, nothing lost.
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    /// The batch is on disk: its positions are committed. They travel in the spool file itself; the checkpoint
    /// file catches up when batches are delivered (see `SinkDriver`), or right here if they could not travel.
    private func commit(_ batch: SealedBatch, written: (entry: SpoolEntry, embedded: Bool)?) {
        if let written, written.embedded {
            checkpoints.apply(batch.positions, sequence: batch.sequence)
        } else if written == nil {
            // Only skipped input (no records): nothing to lose if this is redone after a crash.
            checkpoints.apply(batch.positions, sequence: batch.sequence)
        } else {
            do {
                try checkpoints.commit(batch.positions, sequence: batch.sequence, counters: counters)
            } catch {
                counters.add(.checkpointWriteErrors)
                logger.error("cannot write checkpoints: \(error)")
            }
        }
        if let entry = written?.entry {
            counters.add(.batchesSpooled)
            counters.add(.recordsSpooled, batch.records)
            counters.add(.bytesSpooled, Int(entry.bytes))
            spool.admit(entry)
        }
    }
}

/// Lets batches through one at a time in sequence order. Once broken (a batch could not be spooled), nothing
/// after it passes: committing later positions would skip the records of the one that failed.
actor Turnstile {
    private var next: UInt64
    private var broken = false
    private var waiting: [UInt64: CheckedContinuation<Bool, Never>] = [:]

    init(first: UInt64) { next = first }

    /// Waits for `sequence`'s turn. False if the turnstile broke.
    func wait(for sequence: UInt64) async -> Bool {
        if broken { return false }
        if sequence == next { return true }
        return await withCheckedContinuation { waiting[sequence] = $0 }
    }

    func pass() {
        next += 1
        waiting.removeValue(forKey: next)?.resume(returning: true)
    }

    func `break`() {
        broken = true
        for (_, waiter) in waiting { waiter.resume(returning: false) }
        waiting = [:]
    }
}
