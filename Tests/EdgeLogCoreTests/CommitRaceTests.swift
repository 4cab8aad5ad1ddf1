import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Foundation
import Synchronization
import Testing

/// `checkpoints.json` has one writer, and a write never mixes with another: the file read at any moment is a
/// whole document.
@Suite struct CommitRaceTests {
    /// A document of `size` bytes that says who wrote it.
    func document(writer: Int, round: Int, size: Int) -> [UInt8] {
        let pad = String(repeating: "x", count: max(0, size - 60))
        return Array("{\"writer\": \(writer), \"round\": \(round), \"pad\": \"\(pad)\"}\n".utf8)
    }

    @Test func writesOfTheSamePathFromSeveralThreadsNeverMix() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/checkpoints.json"
        try FileSystem.writeAtomically(document(writer: 0, round: 0, size: 100), to: path)
        let failures = Mutex<[String]>([])
        let done = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            if worker == 4 {
                // The reader: every read is one writer's whole document.
                while done.load(ordering: .acquiring) < 4 {
                    guard let bytes = try? FileSystem.read(path), let doc = try? JSONParser.parse(bytes),
                        doc["writer"]?.intValue != nil
                    else {
                        failures.withLock { $0.append("a read found a damaged file") }
                        continue
                    }
                }
                return
            }
            for round in 0..<300 {
                // Different sizes: a shorter write over a longer one would leave the longer one's tail.
                let bytes = document(writer: worker + 1, round: round, size: worker % 2 == 0 ? 20_000 : 300)
                do {
                    try FileSystem.writeAtomically(bytes, to: path)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            done.add(1, ordering: .releasing)
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(try FileSystem.list(dir.path) == ["checkpoints.json"])  // no temporary file left behind
    }

    @Test func twoCommitsRacingThroughTheCommitterLeaveAValidFile() async throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path)
        let committer = CheckpointCommitter(store: store, counters: Counters(), logger: testLogger)
        // The writer's "spooled" and the driver's "about to delete" at the same time, many times over.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for s in UInt64(1)...400 {
                    await committer.spooled(sequence: s, positions: ["a": .cursor("a:\(s)")], writeNow: s % 3 == 0)
                }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<200 { await committer.aboutToDelete() }
                }
            }
            group.addTask {
                for _ in 0..<400 {
                    let loaded = try? CheckpointStore(directory: dir.path)
                    #expect(loaded != nil, "a read found a damaged file")
                    await Task.yield()
                }
            }
        }
        await committer.flush()
        let stored = try CheckpointStore(directory: dir.path)
        #expect(stored.lastSequence == 400)
        #expect(stored.positions["a"] == .cursor("a:400"))
    }

    @Test func aFullSpoolDroppingWhileBatchesAreSettledKeepsTheFileValid() async throws {
        // The situation that produced damaged files: the batch writer making room in a full spool (a drop) while
        // the sink driver settles a delivery. Both now go through the committer.
        let dir = TemporaryDirectory()
        var c = testConfiguration(dir, maxBytes: 4096)
        c.spool.maxBytes = 2048
        let sink = SlowSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(c, sources: [CountingSource(name: "a", total: 4000, perChunk: 50)], sink: sink)
        let reader = Task {
            var reads = 0
            while !Task.isCancelled {
                if (try? FileSystem.status(dir.path + "/checkpoints.json")) != nil {
                    #expect((try? CheckpointStore(directory: dir.path)) != nil, "a read found a damaged file")
                    reads += 1
                }
                await Task.yield()
            }
            return reads
        }
        let run = Task { try await pipeline.run(mode: .follow) }
        try await eventually("everything read and spooled") { pipeline.checkpoints.positions["a"] == .cursor("a:3999") }
        pipeline.shutdown()
        _ = try await run.value
        reader.cancel()
        #expect(await reader.value > 0)
        #expect(pipeline.counters[.spoolDroppedSizeBatches] > 0)
        #expect(pipeline.counters[.batchesDelivered] > 0)
        #expect(pipeline.counters[.checkpointWriteErrors] == 0)
        let stored = try CheckpointStore(directory: dir.path)
        #expect(stored.positions["a"] == .cursor("a:3999"))
    }
}

/// A sink that takes a moment per batch, so the spool fills while it delivers.
struct SlowSink: Sink {
    let inner: CollectingSink
    init(decompress: @escaping @Sendable ([UInt8]) throws -> [UInt8]) { inner = CollectingSink(decompress: decompress) }
    var name: String { "slow" }
    var format: BatchFormat { .ndjson }
    func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        try? await Task.sleep(for: .milliseconds(5))
        return await inner.deliver(batch)
    }
}
