import EdgeLogCore
import EdgeLogTestKit
import Testing

@Suite struct SpoolTests {
    func settings(maxBytes: Int64 = 1 << 20, ttl: Int64 = 7200) -> SpoolSettings {
        var s = SpoolSettings()
        s.maxBytes = maxBytes
        s.timeToLiveSeconds = ttl
        return s
    }

    @Test func oldestAreDroppedToAdmitTheNewestAndCounted() throws {
        let dir = TemporaryDirectory()
        let counters = Counters()
        let spool = try Spool(directory: dir.path, settings: settings(maxBytes: 16 * 1024 * 3), counters: counters, logger: testLogger)
        let payload = [UInt8](repeating: 7, count: 16 * 1024)
        for seq in 1...5 {
            let entry = try spool.write(sequence: UInt64(seq), payload: payload, records: 10, format: .ndjson, createdMillis: FileSystem.nowMillis())
            spool.admit(entry)
        }
        #expect(spool.snapshot.map(\.sequence) == [3, 4, 5])
        #expect(counters[.spoolDroppedSizeBatches] == 2)
        #expect(counters[.spoolDroppedSizeRecords] == 20)
        #expect(counters[.spoolDroppedSizeBytes] == 2 * 16 * 1024)
        #expect(try FileSystem.list(dir.path)?.count == 3)
    }

    @Test func batchesPastTheTTLAreDropped() throws {
        let dir = TemporaryDirectory()
        let counters = Counters()
        let spool = try Spool(directory: dir.path, settings: settings(ttl: 60), counters: counters, logger: testLogger)
        let now = FileSystem.nowMillis()
        spool.admit(try spool.write(sequence: 1, payload: [1, 2, 3], records: 4, format: .ndjson, createdMillis: now - 61_000))
        spool.admit(try spool.write(sequence: 2, payload: [1, 2, 3], records: 5, format: .ndjson, createdMillis: now))
        spool.expire(nowMillis: now)
        #expect(spool.snapshot.map(\.sequence) == [2])
        #expect(counters[.spoolDroppedTTLBatches] == 1)
        #expect(counters[.spoolDroppedTTLRecords] == 4)
    }

    @Test func aRestartFindsWhatWasSpooledAndDiscardsPartialWrites() throws {
        let dir = TemporaryDirectory()
        do {
            let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
            let now = FileSystem.nowMillis()
            spool.admit(try spool.write(sequence: 41, payload: [9, 9], records: 2, format: .jsonArray, createdMillis: now))
            spool.admit(try spool.write(sequence: 42, payload: [8], records: 1, format: .ndjson, createdMillis: now))
        }
        try FileSystem.writeAtomically([1, 2, 3], to: dir.path + "/.tmp-00000000000000000043-3000-1.ndjson.gz-99")
        let reopened = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        #expect(reopened.snapshot.map(\.sequence) == [41, 42])
        #expect(reopened.snapshot.map(\.format) == [.jsonArray, .ndjson])
        #expect(reopened.snapshot.map(\.records) == [2, 1])
        #expect(try reopened.read(reopened.snapshot[0]) == [9, 9])
        #expect(try FileSystem.list(dir.path)?.count == 2)
    }
}
