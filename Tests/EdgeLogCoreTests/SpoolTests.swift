import EdgeLogCore
import EdgeLogTestKit
import Testing
import EdgeLogGzip

@Suite struct SpoolTests {
    func settings(maxBytes: Int64 = 1 << 20, ttl: Int64 = 7200) -> SpoolSettings {
        var s = SpoolSettings()
        s.maxBytes = maxBytes
        s.timeToLiveSeconds = ttl
        return s
    }

    @Test func oldestAreDroppedToAdmitTheNewestAndCounted() async throws {
        let dir = TemporaryDirectory()
        let counters = Counters()
        let spool = try Spool(directory: dir.path, settings: settings(maxBytes: 16 * 1024 * 3), counters: counters, logger: testLogger)
        let payload = [UInt8](repeating: 7, count: 16 * 1024)
        for seq in 1...5 {
            let entry = try await spool.write(sequence: UInt64(seq), payload: payload, records: 10, format: .ndjson, createdMillis: FileSystem.nowMillis()).entry
            spool.admit(entry)
        }
        #expect(spool.snapshot.map(\.sequence) == [3, 4, 5])
        #expect(counters[.spoolDroppedSizeBatches] == 2)
        #expect(counters[.spoolDroppedSizeRecords] == 20)
        #expect(counters[.spoolDroppedSizeBytes] == 2 * 16 * 1024)
        #expect(try FileSystem.list(dir.path)?.count == 3)
    }

    @Test func batchesPastTheTTLAreDropped() async throws {
        let dir = TemporaryDirectory()
        let counters = Counters()
        let spool = try Spool(directory: dir.path, settings: settings(ttl: 60), counters: counters, logger: testLogger)
        let now = FileSystem.nowMillis()
        spool.admit(try await spool.write(sequence: 1, payload: [1, 2, 3], records: 4, format: .ndjson, createdMillis: now - 61_000).entry)
        spool.admit(try await spool.write(sequence: 2, payload: [1, 2, 3], records: 5, format: .ndjson, createdMillis: now).entry)
        await spool.expire(nowMillis: now)
        #expect(spool.snapshot.map(\.sequence) == [2])
        #expect(counters[.spoolDroppedTTLBatches] == 1)
        #expect(counters[.spoolDroppedTTLRecords] == 4)
    }

    @Test func aRestartFindsWhatWasSpooledAndDiscardsPartialWrites() async throws {
        let dir = TemporaryDirectory()
        do {
            let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
            let now = FileSystem.nowMillis()
            spool.admit(try await spool.write(sequence: 41, payload: [9, 9], records: 2, format: .jsonArray, createdMillis: now).entry)
            spool.admit(try await spool.write(sequence: 42, payload: [8], records: 1, format: .ndjson, createdMillis: now).entry)
        }
        try FileSystem.writeAtomically([1, 2, 3], to: dir.path + "/.tmp-00000000000000000043-3000-1.ndjson.gz-99-1")
        let reopened = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        #expect(reopened.snapshot.map(\.sequence) == [41, 42])
        #expect(reopened.snapshot.map(\.format) == [.jsonArray, .ndjson])
        #expect(reopened.snapshot.map(\.records) == [2, 1])
        #expect(try reopened.read(reopened.snapshot[0]) == .batch([9, 9]))
        #expect(try FileSystem.list(dir.path)?.count == 2)
    }

    @Test func positionsTravelInTheSpoolFileWhichStaysPlainGzip() async throws {
        let dir = TemporaryDirectory()
        let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        let plain = Array("{\"n\":1}\n".utf8)
        let gzip = try Gzip.compress(plain)
        let positions: [String: SourcePosition] = [
            "docker/abc": .file(FilePosition(path: "/x/abc-json.log", device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256, offset: 4096)),
            "journal": .cursor("s=1;i=2"),
        ]
        let (entry, embedded) = try await spool.write(sequence: 1, payload: gzip, records: 1, format: .ndjson, createdMillis: FileSystem.nowMillis(), positions: positions)
        #expect(embedded)
        let onDisk = try FileSystem.read(dir.path + "/" + entry.fileName)!
        #expect(onDisk.count > gzip.count)
        #expect(try Gzip.decompress(onDisk) == plain)  // any gzip reader skips FEXTRA
        #expect(SpoolRecord.positions(in: onDisk) == positions)
        #expect(try spool.read(entry) == .batch(gzip))  // the wire gets the plain header back
    }

    @Test func recoveryStopsAtAGapAndDiscardsWhatFollows() async throws {
        let dir = TemporaryDirectory()
        do {
            let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
            let gzip = try Gzip.compress(Array("{}\n".utf8))
            for seq in [5, 6, 8] {
                _ = try await spool.write(sequence: UInt64(seq), payload: gzip, records: 1, format: .ndjson, createdMillis: FileSystem.nowMillis(), positions: ["a": .cursor("c\(seq)")])
            }
        }
        let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        let recovered = spool.recover(after: 4)
        #expect(recovered.lastSequence == 6)
        #expect(recovered.positions["a"] == .cursor("c6"))
        #expect(spool.snapshot.map(\.sequence) == [5, 6])
        #expect(try FileSystem.list(dir.path)?.count == 2)
    }
}

extension SpoolTests {
    @Test func aDamagedBatchAfterTheCommittedOnesIsNotTrustedOnRecovery() async throws {
        let dir = TemporaryDirectory()
        do {
            let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
            let gzip = try Gzip.compress(Array("{}\n".utf8))
            for seq in [5, 6, 7] {
                _ = try await spool.write(sequence: UInt64(seq), payload: gzip, records: 1, format: .ndjson, createdMillis: FileSystem.nowMillis(), positions: ["a": .cursor("c\(seq)")])
            }
        }
        // Batch 6's bytes change on disk: its positions (and 7's after it) are not taken, the files are deleted,
        // and the records are read again from the source.
        let name = try #require(try FileSystem.list(dir.path)?.first { $0.hasPrefix("00000000000000000006-") })
        var bytes = try #require(try FileSystem.read(dir.path + "/" + name))
        bytes[bytes.count - 12] ^= 0x01
        try FileSystem.writeAtomically(bytes, to: dir.path + "/" + name)
        let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        let recovered = spool.recover(after: 4)
        #expect(recovered.lastSequence == 5)
        #expect(recovered.positions["a"] == .cursor("c5"))
        #expect(spool.snapshot.map(\.sequence) == [5])
    }

    @Test func aRebuildTakesEveryBatchButATopOneAfterAGapAndDeletesNothing() async throws {
        let dir = TemporaryDirectory()
        let spool = try Spool(directory: dir.path, settings: settings(), counters: Counters(), logger: testLogger)
        let gzip = try Gzip.compress(Array("{}\n".utf8))
        for seq in [3, 4, 6] {
            spool.admit(try await spool.write(sequence: UInt64(seq), payload: gzip, records: 1, format: .ndjson, createdMillis: FileSystem.nowMillis(), positions: ["a": .cursor("c\(seq)"), "b\(seq)": .cursor("x")]).entry)
        }
        let rebuilt = spool.rebuild()
        // 6 follows a missing 5 (maybe a crash between two parallel writes): its positions are not taken.
        #expect(rebuilt.positions == ["a": .cursor("c4"), "b3": .cursor("x"), "b4": .cursor("x")])
        #expect(rebuilt.lastSequence == 6)
        #expect(rebuilt.carried == 2)
        #expect(spool.snapshot.map(\.sequence) == [3, 4, 6])
    }
}
