import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PipelineTests {
    func numbers(_ records: [String]) throws -> [Int] {
        try records.map { Int(try JSONParser.parse($0)["n"]!.intValue!) }
    }

    @Test func onceDeliversEverythingAndCommitsTheLastPosition() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(format: .jsonArray, decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir),
            sources: [CountingSource(name: "a", total: 3000, perChunk: 100), CountingSource(name: "b", total: 500, perChunk: 7)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let all = try numbers(sink.records)
        #expect(all.count == 3500)
        #expect(all.filter { $0 < 500 }.count == 1000)  // 0..<500 from both sources
        let store = try CheckpointStore(directory: dir.path)
        #expect(store.positions["a"] == .cursor("a:2999"))
        #expect(store.positions["b"] == .cursor("b:499"))
        #expect(pipeline.spool.snapshot.isEmpty)
    }

    @Test func restartResumesAfterTheCommittedPosition() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        for total in [1000, 2500] {
            let pipeline = try testPipeline(
                testConfiguration(dir), sources: [CountingSource(name: "a", total: total, perChunk: 64)], sink: sink)
            #expect(try await pipeline.run(mode: .once))
        }
        #expect(try numbers(sink.records) == Array(0..<2500))
    }

    @Test func retryableFailuresKeepBatchesSpooledUntilDelivered() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.failNext(2)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 300, perChunk: 50)], sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("all records delivered") { sink.records.count == 300 }
        #expect(pipeline.counters[.deliveryRetries] == 2)
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(try numbers(sink.records) == Array(0..<300))
    }

    @Test func aRefusedBatchIsDeadLetteredAndThePipelineMovesOn() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.refuseNext(1)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 2000, perChunk: 100)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let dead = try DeadLetterStore(directory: dir.path + "/deadletter").list()
        #expect(dead.count == 1)
        #expect(pipeline.counters[.recordsDeadLettered] == dead[0].records)
        let delivered = try numbers(sink.records)
        #expect(delivered.count + dead[0].records == 2000)
        let deadRecords = try Gzip.decompress(try FileSystem.read(dir.path + "/deadletter/" + dead[0].fileName)!)
        let deadNumbers = try numbers(deadRecords.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) })
        #expect(Set(delivered + deadNumbers) == Set(0..<2000))
        let meta = try JSONParser.parse(try FileSystem.read(dir.path + "/deadletter/" + dead[0].fileName + ".json")!)
        #expect(meta["reason"]?.stringValue == "injected refusal")
    }

    @Test func positionsAreNotCommittedBeforeTheirBatchIsSpooled() async throws {
        // The spool folder is a file, so every spool write fails: nothing may be committed.
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 100, perChunk: 10)], sink: sink)
        #expect(rmdir(dir.path + "/spool") == 0)
        try FileSystem.writeAtomically([0], to: dir.path + "/spool")
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("spool write failures") { pipeline.counters[.spoolWriteErrors] >= 2 }
        task.cancel()
        _ = try? await task.value
        let store = try CheckpointStore(directory: dir.path)
        #expect(store.positions["a"] == nil)
        #expect(sink.records.isEmpty)
    }
}
