import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Testing

/// Every spool file is checked before it goes to a sink; a damaged one goes to the dead letters, counted and
/// logged, and delivery goes on.
@Suite struct SpoolIntegrityTests {
    @Test func crc32MatchesTheStandardOne() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 3) }
        #expect(CRC32.checksum(bytes[3000...], continuing: CRC32.checksum(bytes[..<3000])) == CRC32.checksum(bytes))
        // The gzip trailer holds the CRC-32 of the uncompressed bytes: the same function.
        let gzip = try! Gzip.compress(bytes)
        let trailer = gzip.suffix(8).prefix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        #expect(trailer == CRC32.checksum(bytes))
    }

    @Test func aSpoolFileCarriesItsChecksumAndStaysPlainGzip() throws {
        let plain = Array(String(repeating: "{\"n\":1}\n", count: 500).utf8)
        let gzip = try Gzip.compress(plain)
        let file = try #require(SpoolRecord.make(gzip, positions: ["a": .cursor("a:1")]))
        #expect(file.embedded)
        #expect(SpoolRecord.verify(file.bytes) == .intact)
        #expect(try Gzip.decompress(file.bytes) == plain)
        #expect(SpoolRecord.wireBytes(file.bytes) == gzip)
        // Without positions the checksum is still there.
        let bare = try #require(SpoolRecord.make(gzip, positions: [:]))
        #expect(!bare.embedded && SpoolRecord.verify(bare.bytes) == .intact)
        #expect(SpoolRecord.wireBytes(bare.bytes) == gzip)
    }

    @Test func everyKindOfDamageIsCaught() throws {
        let gzip = try Gzip.compress(Array(String(repeating: "{\"n\":1}\n", count: 500).utf8))
        let file = try #require(SpoolRecord.make(gzip, positions: ["a": .cursor("a:1")])).bytes
        func damaged(_ bytes: [UInt8]) -> Bool {
            if case .damaged = SpoolRecord.verify(bytes) { return true }
            return false
        }
        for i in 0..<file.count {
            var flipped = file
            flipped[i] ^= 0x10
            if SpoolRecord.verify(flipped) == .unchecked {
                // The bit hit the gzip magic or the checksum's own tag, so there is no checksum to go by: the
                // spool then decompresses, which fails, or finds the batch's bytes whole (only the tag changed).
                let wire = SpoolRecord.wireBytes(flipped)
                #expect(i < 2 || (12...13).contains(i), "byte \(i)")
                #expect((try? Gzip.decompress(wire)) == nil || wire == gzip, "a bit flipped at byte \(i)")
            } else {
                #expect(damaged(flipped), "a bit flipped at byte \(i) of \(file.count)")
            }
        }
        #expect(damaged(Array(file.dropLast(1))))
        #expect(damaged(Array(file.prefix(file.count / 2))))
        #expect(damaged(file + [0]))
        // Without the gzip magic there is nothing to go by but decompressing (a test compressor that does not
        // gzip writes such files); the spool then decompresses to check.
        #expect(SpoolRecord.verify([]) == .unchecked)
        #expect(SpoolRecord.verify(Array("not gzip at all, but long enough".utf8)) == .unchecked)
        #expect(SpoolRecord.verify(gzip) == .unchecked)
    }

    /// A first run whose sink fails, leaving every batch spooled.
    func spooled(_ dir: TemporaryDirectory, total: Int) async throws -> [SpoolEntry] {
        let failing = CollectingSink(decompress: { try Gzip.decompress($0) })
        failing.failNext(1_000_000)
        let first = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: total, perChunk: 100)], sink: failing)
        #expect(try await first.run(mode: .once) == false)
        return first.spool.snapshot
    }

    @Test func aDamagedSpoolFileIsDeadLetteredAndDeliveryGoesOn() async throws {
        let dir = TemporaryDirectory()
        let batches = try await spooled(dir, total: 2000)
        #expect(batches.count >= 3)
        let victim = batches[1]
        let path = dir.path + "/spool/" + victim.fileName
        var bytes = try #require(try FileSystem.read(path))
        bytes[bytes.count / 2] ^= 0xFF
        try FileSystem.writeAtomically(bytes, to: path)

        // The file sink: a damaged batch would become a corrupt .gz in its folder.
        let outbox = dir.path + "/outbox"
        let sink = FileSink(directory: outbox, compressor: TestCompressor(), level: 1)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 2000, perChunk: 100)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(pipeline.counters[.spoolDamagedBatches] == 1)
        #expect(pipeline.counters[.spoolDamagedRecords] == victim.records)
        var delivered = 0
        for name in try FileSystem.list(outbox) ?? [] {
            let records = try Gzip.decompress(try FileSystem.read(outbox + "/" + name)!)  // every one reads
            delivered += records.split(separator: 0x0A).count
        }
        #expect(delivered == 2000 - victim.records)
        #expect(try FileSystem.list(outbox)?.contains(FileSink.fileName(sequence: victim.sequence)) == false)
        let dead = DeadLetterStore(directory: dir.path + "/deadletter")
        #expect(try dead.list().map(\.sequence) == [victim.sequence])
        let reason = try #require(dead.metadata(victim)?["reason"]?.stringValue)
        #expect(reason.contains("the spool file is damaged: checksum mismatch"))
        #expect(try FileSystem.read(dir.path + "/deadletter/" + victim.fileName) == bytes)
        #expect(pipeline.spool.snapshot.isEmpty)
        #expect(try FileSystem.list(dir.path + "/spool")?.isEmpty == true)
    }

    @Test func aCutSpoolFileIsCaughtToo() async throws {
        let dir = TemporaryDirectory()
        let batches = try await spooled(dir, total: 1000)
        let victim = batches[0]
        let path = dir.path + "/spool/" + victim.fileName
        let bytes = try #require(try FileSystem.read(path))
        try FileSystem.writeAtomically(Array(bytes.prefix(bytes.count - 9)), to: path)
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 1000, perChunk: 100)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(sink.records.count == 1000 - victim.records)
        let reason = DeadLetterStore(directory: dir.path + "/deadletter").metadata(victim)?["reason"]?.stringValue
        #expect(reason?.contains("cut or extended") == true)
    }

    @Test func aFileWithoutAChecksumIsCheckedByDecompressing() async throws {
        // Written before the checksum existed, or a dead letter put back: plain gzip.
        let dir = TemporaryDirectory()
        try FileSystem.makeDirectories(dir.path + "/spool")
        let good = try Gzip.compress(Array("{\"n\":1}\n{\"n\":2}\n".utf8))
        var bad = try Gzip.compress(Array("{\"n\":3}\n{\"n\":4}\n".utf8))
        bad[bad.count - 6] ^= 0x01  // the trailer's CRC no longer matches
        let now = FileSystem.nowMillis()
        try FileSystem.writeAtomically(good, to: dir.path + "/spool/00000000000000000001-\(now)-2.ndjson.gz")
        try FileSystem.writeAtomically(bad, to: dir.path + "/spool/00000000000000000002-\(now)-2.ndjson.gz")
        try FileSystem.writeAtomically(
            Array(#"{"version": 1, "lastSequence": 2, "sources": {}, "counters": {}}"#.utf8), to: dir.path + "/checkpoints.json")
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(testConfiguration(dir), sources: [], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(sink.records == ["{\"n\":1}", "{\"n\":2}"])
        #expect(pipeline.counters[.spoolDamagedBatches] == 1)
        let dead = DeadLetterStore(directory: dir.path + "/deadletter")
        #expect(try dead.list().map(\.sequence) == [2])
    }
}
