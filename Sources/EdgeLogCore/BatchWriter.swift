import Logging

/// Takes closed batches from the batcher, compresses up to `concurrency` of them at once (each on its own task:
/// bounded CPU work; compression is the costliest step) and writes them (on the `BlockingPool`; the fsyncs of
/// neighbouring batches overlap each other and the next compressions), then admits each strictly in sequence
/// order: the committer learns the batch is spooled (its positions are committed) and the sink driver may take it.
/// A batch leaves the batcher only once a compression slot is free (`CompressionSlots`), and its uncompressed
/// records go back to the batcher as soon as they are compressed (`Batcher.recycle`), so the writer holds at most
/// `concurrency` uncompressed batches.
/// A position is therefore never committed before its records are on disk, and never past a batch that is not.
///
/// A write that fails (a full disk, EIO) is retried with backoff, without end: the batch stays in memory, the
/// batcher's queue fills, the sources wait in `emit`, and nothing is committed past it. Only `giveUp` (the
/// pipeline stopping) ends the wait; the batches not written are then not committed and are read again by the
/// next run. Nothing is dropped here.
public struct BatchWriter: Sendable {
    let batcher: Batcher
    let spool: Spool
    let committer: CheckpointCommitter
    let compressor: any BatchCompressor
    let level: Int
    let concurrency: Int
    let counters: Counters
    let logger: Logger
    /// Asked after each failed write: true ends the retries (the pipeline is stopping).
    let giveUp: @Sendable () -> Bool

    /// The longest wait between two attempts to write the spool.
    static let maximumRetryDelay: Duration = .seconds(5)
    /// Compressed batches being written to the spool or waiting for their turn to be admitted, besides the
    /// `concurrency` being compressed.
    static let maxWriting = 2

    struct GaveUp: Error {}

    /// Runs until the batcher is finished. Returns false if batches were left unwritten (`giveUp`).
    func run() async -> Bool {
        let slots = CompressionSlots(concurrency)
        let written: Bool = await withTaskGroup(of: Bool.self) { group in
            var turnstile: Turnstile?
            var inFlight = 0
            var failed = false
            while true {
                // A compression slot first, then the batch: a batch taken before it can be compressed would be
                // one more uncompressed megabyte held here while the batcher's queue fills behind it. Batches
                // already compressed (being written and admitted) hold only their compressed bytes; at most
                // `maxWriting` of them are in flight.
                await slots.acquire()
                if inFlight >= concurrency + Self.maxWriting {
                    if await group.next() == false { failed = true }
                    inFlight -= 1
                }
                guard let batch = await batcher.next() else { break }
                if failed {  // drain the batcher so the sources are never left waiting
                    slots.release()
                    continue
                }
                let gate = turnstile ?? Turnstile(first: batch.sequence)
                turnstile = gate
                group.addTask {
                    // Compression and the spool write of different batches run side by side; admission
                    // happens strictly in sequence order.
                    let result: (entry: SpoolEntry, embedded: Bool)?
                    do {
                        result = try await write(batch, slots: slots)
                    } catch {
                        await gate.break()
                        return false
                    }
                    guard await gate.wait(for: batch.sequence) else { return false }
                    await admit(batch, written: result)
                    await gate.pass()
                    return true
                }
                inFlight += 1
            }
            for await ok in group where !ok { failed = true }
            return !failed
        }
        if !written {
            logger.warning("stopped with batches not spooled; they are not committed, and the next run reads their records again")
        }
        return written
    }

    /// Compresses the batch (holding one of the writer's compression slots until it is compressed, or until this
    /// ends) and writes it to the spool, retrying failed writes.
    private func write(_ batch: SealedBatch, slots: CompressionSlots) async throws -> (entry: SpoolEntry, embedded: Bool)? {
        var holdsSlot = true
        defer { if holdsSlot { slots.release() } }
        guard batch.records > 0 else { return nil }
        var payload: [UInt8]?
        var backoff = Backoff(initial: .milliseconds(200), maximum: Self.maximumRetryDelay)
        while true {
            do {
                let compressed: [UInt8]
                if let payload {
                    compressed = payload
                } else {
                    let plain = batch.plain.take()
                    do {
                        compressed = try compressor.compress(plain, level: level)
                    } catch {
                        batch.plain.putBack(plain)
                        throw error
                    }
                    await batcher.recycle(consume plain)
                    holdsSlot = false
                    slots.release()
                }
                payload = compressed
                let written = try await spool.write(
                    sequence: batch.sequence, payload: compressed, records: batch.records, format: batch.format,
                    createdMillis: batch.createdMillis, positions: batch.positions)
                if let ended = spool.noteWriteSucceeded() {
                    let seconds = max(0, FileSystem.nowMillis() - ended.sinceMillis) / 1000
                    logger.info(
                        "the spool is writable again after \(seconds) s and \(ended.attempts) failed attempt(s); reading resumes")
                }
                return written
            } catch {
                counters.add(.spoolWriteErrors)
                if spool.noteWriteFailed(error) {
                    counters.add(.spoolWriteBlocks)
                    logger.error(
                        "cannot write batch \(batch.sequence) to the spool: \(error). Reading waits and nothing more is committed until a write succeeds; retrying every few seconds"
                    )
                }
                if giveUp() { throw GaveUp() }
                try? await Task.sleep(for: backoff.next())
                if giveUp() { throw GaveUp() }
            }
        }
    }

    /// Admission, strictly in sequence order once the batch's file is durable: the committer takes its
    /// positions (written to the checkpoint file first if they are not in the spool file), then the batch is
    /// counted and becomes visible to the sink driver.
    private func admit(_ batch: SealedBatch, written: (entry: SpoolEntry, embedded: Bool)?) async {
        // `written == nil`: only skipped input (no records): nothing to lose if this is redone after a crash.
        await committer.spooled(
            sequence: batch.sequence, positions: batch.positions, writeNow: written.map { !$0.embedded } ?? false)
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
