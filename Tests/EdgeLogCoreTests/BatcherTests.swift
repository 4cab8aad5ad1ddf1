import EdgeLogCore
import EdgeLogTestKit
import Testing

@Suite struct BatcherTests {
    func settings(maxBytes: Int64 = 16 * 1024, interval: Double = 3600) -> BatchSettings {
        var s = BatchSettings()
        s.maxBytes = maxBytes
        s.flushIntervalSeconds = interval
        return s
    }

    @Test func batchesStayWithinMaxBytesAndKeepEveryRecord() async throws {
        let batcher = Batcher(settings: settings(), format: .jsonArray, firstSequence: 1, maxQueued: 1000)
        await batcher.append(makeChunk(source: "a", from: 0, count: 2000, size: 100))
        await batcher.finish()
        var seen: [Int] = []
        var sequence: UInt64 = 0
        while let batch = await batcher.next() {
            #expect(batch.payload.count <= 16 * 1024)
            #expect(batch.sequence == sequence + 1)
            sequence = batch.sequence
            let parsed = try JSONParser.parse(batch.payload)
            let numbers = parsed.arrayValue!.map { Int($0["n"]!.intValue!) }
            #expect(numbers.count == batch.records)
            // The committed position is the batch's last record.
            #expect(batch.positions["a"] == .cursor("a:\(numbers.last!)"))
            seen += numbers
        }
        #expect(seen == Array(0..<2000))
        #expect(sequence > 10)
    }

    @Test func closesABatchAfterTheFlushInterval() async throws {
        let batcher = Batcher(settings: settings(interval: 0.05), format: .ndjson, firstSequence: 7)
        await batcher.append(makeChunk(source: "a", from: 0, count: 3))
        let deadline = await batcher.nextDeadline()
        #expect(deadline != nil)
        await batcher.sealIfDue(now: deadline!)
        let batch = await batcher.next()
        #expect(batch?.records == 3)
        #expect(batch?.sequence == 7)
        #expect(batch?.payload.filter { $0 == 0x0A }.count == 3)
    }

    @Test func appendWaitsWhileTheQueueIsFull() async throws {
        let batcher = Batcher(settings: settings(), format: .jsonArray, firstSequence: 1, maxQueued: 1)
        let progress = Progress()
        let producer = Task {
            for i in 0..<10 {
                await batcher.append(makeChunk(source: "a", from: i * 400, count: 400, size: 100))
                await progress.set(i + 1)
            }
        }
        // 400 records of 100 bytes make 2-3 batches per chunk: with one queue slot the producer must wait.
        try await eventually("producer suspended") { await batcher.waitingProducers == 1 }
        #expect(await progress.value == 0)
        var taken = 0
        while await progress.value < 10 {
            if await batcher.waitingProducers == 1 || taken == 0 {
                _ = await batcher.next()
                taken += 1
            }
            await Task.yield()
        }
        await producer.value
        #expect(taken >= 20)
    }

    @Test func positionOnlyChunksAreCarried() async throws {
        let batcher = Batcher(settings: settings(), format: .jsonArray, firstSequence: 1)
        var chunk = RecordChunk(source: "f")
        chunk.finalPosition = .cursor("skipped-to-here")
        await batcher.append(chunk)
        await batcher.finish()
        let batch = await batcher.next()
        #expect(batch?.records == 0)
        #expect(batch?.positions["f"] == .cursor("skipped-to-here"))
    }
    /// The address of a batch's uncompressed records (the same storage as the buffer they were written into).
    private func storage(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } }

    @Test func aRecycledBufferCarriesExactlyTheNextBatchsRecords() async throws {
        let batcher = Batcher(settings: settings(), format: .jsonArray, firstSequence: 1, maxQueued: 1000)
        // 200 records of 100 bytes: batch 1 closes full, batch 2 is open.
        await batcher.append(makeChunk(source: "a", from: 0, count: 200, size: 100))
        let first = try #require(await batcher.next())
        let firstRecords = first.plain.take()
        #expect(first.payload.isEmpty)  // taken by the compression
        let reused = storage(firstRecords)
        var numbers = try JSONParser.parse(firstRecords).arrayValue!.map { Int($0["n"]!.intValue!) }
        await batcher.recycle(consume firstRecords)
        #expect(await batcher.spareBuffers == 1)
        // Batch 2 closes full; batch 3 is written into the recycled buffer.
        await batcher.append(makeChunk(source: "a", from: 200, count: 400, size: 100))
        #expect(await batcher.spareBuffers == 0)
        await batcher.finish()
        var third: SealedBatch?
        while let batch = await batcher.next() {
            if batch.sequence == 3 { third = batch }
            let batchNumbers = try JSONParser.parse(batch.payload).arrayValue!.map { Int($0["n"]!.intValue!) }
            #expect(batchNumbers.count == batch.records)
            #expect(batch.payload.count <= 16 * 1024)
            numbers += batchNumbers
        }
        #expect(numbers == Array(0..<600))
        let recycled = try #require(third)
        #expect(storage(recycled.payload) == reused)
    }

    @Test func spareBuffersAreLetGoOnceABatchClosesByItsInterval() async throws {
        let batcher = Batcher(settings: settings(), format: .ndjson, firstSequence: 1, maxQueued: 1000)
        await batcher.append(makeChunk(source: "a", from: 0, count: 200, size: 100))
        let first = try #require(await batcher.next())
        await batcher.recycle(first.plain.take())
        #expect(await batcher.spareBuffers == 1)
        // Light traffic: the open batch closes by its interval (or a flush), not because it is full.
        await batcher.flush()
        #expect(await batcher.spareBuffers == 0)
        let second = try #require(await batcher.next())
        await batcher.recycle(second.plain.take())
        #expect(await batcher.spareBuffers == 0)
    }
}

actor Progress {
    var value = 0
    func set(_ v: Int) { value = v }
}
