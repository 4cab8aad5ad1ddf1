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

    private struct Compressed: Sendable {
        let batch: SealedBatch
        let payload: [UInt8]
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Compressed.self) { group in
            var inFlight = 0
            var ready: [UInt64: Compressed] = [:]
            var nextSequence: UInt64?
            func persistReady() async throws {
                while let n = nextSequence, let item = ready.removeValue(forKey: n) {
                    try await persist(item)
                    nextSequence = n + 1
                }
            }
            while let batch = await batcher.next() {
                if nextSequence == nil { nextSequence = batch.sequence }
                let compressor = self.compressor
                let level = self.level
                group.addTask {
                    if batch.records == 0 { return Compressed(batch: batch, payload: []) }
                    return Compressed(batch: batch, payload: try compressor.compress(batch.payload, level: level))
                }
                inFlight += 1
                if inFlight >= concurrency, let done = try await group.next() {
                    inFlight -= 1
                    ready[done.batch.sequence] = done
                    try await persistReady()
                }
            }
            while let done = try await group.next() {
                ready[done.batch.sequence] = done
                try await persistReady()
            }
        }
    }

    private func persist(_ item: Compressed) async throws {
        let batch = item.batch
        var entry: SpoolEntry?
        if batch.records > 0 {
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
            while entry == nil {
                do {
                    entry = try spool.write(
                        sequence: batch.sequence, payload: item.payload, records: batch.records, format: batch.format,
                        createdMillis: batch.createdMillis)
                } catch {
                    counters.add(.spoolWriteErrors)
                    logger.error("cannot write batch \(batch.sequence) to the spool, will retry: \(error)")
                    if let e = error as? SystemError, e.isNoSpace, spool.dropOldestForSpace() { continue }
                    // Records stay in memory and sources wait behind them: nothing is committed, nothing lost.
                    try await Task.sleep(for: backoff.next())
                }
            }
        }
        do {
            try checkpoints.commit(batch.positions, sequence: batch.sequence, counters: counters)
        } catch {
            // The positions stay in memory and go out with the next commit; a crash before then re-reads
            // (duplicates, never loss).
            counters.add(.checkpointWriteErrors)
            logger.error("cannot write checkpoints: \(error)")
        }
        if let entry {
            counters.add(.batchesSpooled)
            counters.add(.recordsSpooled, batch.records)
            counters.add(.bytesSpooled, Int(entry.bytes))
            spool.admit(entry)
        }
    }
}
