import DequeModule

/// Groups records into batches of at most `maxBytes` (the JSON array with brackets and commas) and closes a
/// batch at the latest `flushInterval` after its first record. Closed batches wait in a queue of fixed length
/// for the writer; while it is full, `append` suspends: the sources slow down instead of memory growing.
///
/// While batches fill up (closed by size), the writer hands each batch's buffer back once it is compressed
/// (`recycle`) and the next batch is written into it: the same few megabyte-sized blocks go round instead of one
/// being allocated and freed per batch, which left the heap holding freed blocks beside the live ones. Once a
/// batch is closed by its interval (traffic is light), the spare buffers are let go.
public actor Batcher {
    private var maxBytes: Int
    private var flushInterval: Duration
    private let format: BatchFormat
    private let maxQueued: Int

    private var data: [UInt8] = []
    /// Buffers of compressed batches, for the next batches (at most `maxSpare`, only while `filling`).
    private var spare: [[UInt8]] = []
    /// The last batch was closed because it was full.
    private var filling = false
    private var records = 0
    private var positions: [String: SourcePosition] = [:]
    private var openedAt: ContinuousClock.Instant?
    private var openedMillis: Int64 = 0
    private var nextSequence: UInt64

    private var queue = Deque<SealedBatch>()
    private var producers: [CheckedContinuation<Void, Never>] = []
    private var consumer: CheckedContinuation<SealedBatch?, Never>?
    private var openWaiter: CheckedContinuation<Void, Never>?
    private var finished = false

    /// Buffers kept for reuse at most (the writer compresses two batches at a time).
    static let maxSpare = 2

    public init(settings: BatchSettings, format: BatchFormat, firstSequence: UInt64, maxQueued: Int = 2) {
        maxBytes = Int(settings.maxBytes)
        flushInterval = .milliseconds(Int64(settings.flushIntervalSeconds * 1000))
        self.format = format
        self.maxQueued = maxQueued
        nextSequence = firstSequence
        data.reserveCapacity(maxBytes)
    }

    /// New size and interval apply from the next batch.
    public func update(settings: BatchSettings) {
        maxBytes = Int(settings.maxBytes)
        flushInterval = .milliseconds(Int64(settings.flushIntervalSeconds * 1000))
    }

    /// Adds a source's records; returns once there is room again behind them.
    public func append(_ chunk: RecordChunk) async {
        var start = 0
        var firstInBatch = 0
        chunk.data.withUnsafeBufferPointer { bytes in
            for i in 0..<chunk.ends.count {
                let end = chunk.ends[i]
                let length = end - start
                // Array accounting: '[' + records joined by ',' + ']'.
                if records > 0 && data.count + 1 + length + 1 > maxBytes {
                    // The batch being closed covers this chunk's records up to the previous one.
                    if i > firstInBatch { positions[chunk.source] = chunk.positions[i - 1] }
                    seal(full: true)
                    firstInBatch = i
                }
                if records == 0 {
                    if format == .jsonArray { data.append(UInt8(ascii: "[")) }
                } else {
                    data.append(format == .jsonArray ? UInt8(ascii: ",") : 0x0A)
                }
                data.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                records += 1
                start = end
                markOpen()
            }
        }
        if let last = chunk.positions.last { positions[chunk.source] = last }
        if let final = chunk.finalPosition {
            positions[chunk.source] = final
            markOpen()
        }
        while queue.count >= maxQueued && !finished {
            await withCheckedContinuation { producers.append($0) }
        }
    }

    private func markOpen() {
        guard openedAt == nil else { return }
        openedAt = .now
        openedMillis = FileSystem.nowMillis()
        openWaiter?.resume()
        openWaiter = nil
    }

    /// Closes the open batch (if it holds records or positions) and queues it for the writer.
    public func seal() { seal(full: false) }

    /// `full`: closed because the next record does not fit (rather than by the interval, a flush or the end).
    private func seal(full: Bool) {
        guard openedAt != nil else { return }
        filling = full
        if !full { spare = [] }
        if records > 0 {
            data.append(format == .jsonArray ? UInt8(ascii: "]") : 0x0A)
        }
        let batch = SealedBatch(
            sequence: nextSequence, plain: PlainRecords(data), records: records, format: format, positions: positions,
            createdMillis: openedMillis)
        nextSequence += 1
        if let reused = spare.popLast(), reused.capacity >= maxBytes {
            data = reused
        } else {
            data = []
            data.reserveCapacity(maxBytes)
        }
        records = 0
        positions = [:]
        openedAt = nil
        if let consumer {
            self.consumer = nil
            consumer.resume(returning: batch)
        } else {
            queue.append(batch)
        }
    }

    /// Waits until a batch is open, then returns the instant it must be closed by. Nil once finished.
    public func nextDeadline() async -> ContinuousClock.Instant? {
        while openedAt == nil && !finished {
            await withCheckedContinuation { openWaiter = $0 }
        }
        guard let openedAt, !finished else { return nil }
        return openedAt + flushInterval
    }

    /// Closes the open batch if it has been open for the flush interval.
    public func sealIfDue(now: ContinuousClock.Instant = .now) {
        if let openedAt, now >= openedAt + flushInterval { seal() }
    }

    /// The next closed batch for the writer, in sequence order; nil once finished and empty.
    public func next() async -> SealedBatch? {
        if let batch = queue.popFirst() {
            if let producer = producers.first {
                producers.removeFirst()
                producer.resume()
            }
            return batch
        }
        if finished { return nil }
        return await withCheckedContinuation { consumer = $0 }
    }

    /// Seals what is open and lets the writer drain the queue; `next` then ends with nil.
    public func finish() {
        seal()
        finished = true
        consumer?.resume(returning: nil)
        consumer = nil
        openWaiter?.resume()
        openWaiter = nil
        for p in producers { p.resume() }
        producers = []
    }

    /// Sources suspended in `append` because the queue is full.
    public var waitingProducers: Int { producers.count }

    /// Takes back the buffer of a batch that has been compressed, for a later batch: kept while batches fill up
    /// (at most `maxSpare`), released otherwise. Pass the only reference (`consume`), or it cannot be reused.
    public func recycle(_ buffer: consuming [UInt8]) {
        guard filling, spare.count < Self.maxSpare, buffer.capacity >= maxBytes else { return }
        var kept = buffer
        kept.removeAll(keepingCapacity: true)
        spare.append(kept)
    }

    /// Buffers kept for the next batches.
    public var spareBuffers: Int { spare.count }

    /// Flushes now (the `flush` direct method, shutdown): closes the open batch.
    public func flush() { seal() }
}
