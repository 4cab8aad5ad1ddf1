import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A checkpoint file that cannot be used never stops EdgeLog: it is set aside, the positions are rebuilt from the
/// spool's files, and the reset is counted and recorded. Nothing read from EdgeLog's own files can trap.
@Suite struct CheckpointHealingTests {
    static let total = 3000

    func numbers(_ records: [String]) throws -> [Int] {
        try records.map { Int(try JSONParser.parse($0)["n"]!.intValue!) }
    }

    /// A first run whose sink fails: every batch stays spooled, each carrying its positions, and the checkpoint
    /// file is written. Returns the state folder.
    func spooledState() async throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let failing = CollectingSink(decompress: { try Gzip.decompress($0) })
        failing.failNext(1_000_000)
        let first = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: Self.total, perChunk: 100)], sink: failing)
        #expect(try await first.run(mode: .once) == false)
        #expect(first.spool.snapshot.count > 3)
        #expect(try FileSystem.status(dir.path + "/checkpoints.json") != nil)
        return dir
    }

    func asideFiles(_ dir: TemporaryDirectory) throws -> [String] {
        try (FileSystem.list(dir.path) ?? []).filter { $0.hasPrefix("checkpoints.json.damaged-") }
    }

    /// Damages the file with `damage`, runs again, and checks the healing: nothing lost, nothing read twice.
    func heals(_ damage: (String) throws -> Void, expecting reason: String) async throws {
        let dir = try await spooledState()
        let path = dir.path + "/checkpoints.json"
        let original = try #require(try FileSystem.read(path))
        try damage(path)
        let damagedBytes = try? FileSystem.read(path)
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: Self.total, perChunk: 100)], sink: sink)
        #expect(pipeline.counters[.checkpointResets] == 1)
        #expect(pipeline.checkpoints.positions["a"] == .cursor("a:\(Self.total - 1)"))
        #expect(try await pipeline.run(mode: .once))
        // Every record once: the spooled batches delivered, nothing read again.
        #expect(try numbers(sink.records).sorted() == Array(0..<Self.total))
        #expect(pipeline.counters[.checkpointResetSources] == 0)
        // The damaged file is kept aside, as it was.
        let aside = try asideFiles(dir)
        #expect(aside.count == 1)
        if let damagedBytes, let name = aside.first {
            #expect(try FileSystem.read(dir.path + "/" + name) == damagedBytes)
        }
        // A valid file again, recording the reset.
        let store = try CheckpointStore(directory: dir.path)
        #expect(store.positions["a"] == .cursor("a:\(Self.total - 1)"))
        let reset = try #require(store.lastReset)
        #expect(reset.reason.contains(reason))
        #expect(reset.setAside == dir.path + "/" + aside[0])
        #expect(reset.rebuiltPositions == 1)
        #expect(store.restoredCounters["checkpointResets"] == 1)
        #expect(original != (try FileSystem.read(path)))
    }

    func replace(_ text: String) -> (String) throws -> Void {
        { path in try FileSystem.writeAtomically(Array(text.utf8), to: path) }
    }

    @Test func garbage() async throws {
        try await heals({ path in try FileSystem.writeAtomically((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, to: path) }, expecting: "is damaged")
    }

    @Test func truncated() async throws {
        try await heals({ path in
            let bytes = try FileSystem.read(path)!
            try FileSystem.writeAtomically(Array(bytes.prefix(bytes.count / 2)), to: path)
        }, expecting: "is damaged")
    }

    @Test func empty() async throws {
        try await heals(replace(""), expecting: "is damaged")
    }

    @Test func negativeLastSequence() async throws {
        try await heals(replace(#"{"version": 1, "lastSequence": -1, "sources": {}, "counters": {}}"#), expecting: "lastSequence -1")
    }

    @Test func hugeLastSequence() async throws {
        try await heals(replace(#"{"version": 1, "lastSequence": 9223372036854775807}"#), expecting: "lastSequence 9223372036854775807")
        try await heals(replace(#"{"version": 1, "lastSequence": 1e300}"#), expecting: "lastSequence")
    }

    @Test func outOfRangePositions() async throws {
        let negativeOffset =
            #"{"version": 1, "lastSequence": 3, "sources": {"docker/x": {"path": "/x", "device": 1, "inode": 2, "fingerprint": "3", "fingerprintLength": 4, "offset": -5}}}"#
        try await heals(replace(negativeOffset), expecting: "out-of-range position for docker/x")
        let hugeFingerprint =
            #"{"version": 1, "sources": {"docker/x": {"path": "/x", "device": 1, "inode": 2, "fingerprint": "3", "fingerprintLength": 1000000000000, "offset": 5}}}"#
        try await heals(replace(hugeFingerprint), expecting: "out-of-range position")
    }

    @Test func outOfRangeCounters() async throws {
        try await heals(replace(#"{"version": 1, "counters": {"recordsRead": -1}}"#), expecting: "counter recordsRead = -1")
        try await heals(replace(#"{"version": 1, "counters": {"recordsRead": 9223372036854775807}}"#), expecting: "counter recordsRead")
    }

    @Test func anotherVersionOrShape() async throws {
        try await heals(replace(#"{"version": 2}"#), expecting: "has version 2")
        try await heals(replace("[1, 2, 3]"), expecting: "is not a JSON object")
        try await heals(replace(#"{"version": 1, "sources": []}"#), expecting: "sources that are not an object")
    }

    @Test func unreadable() async throws {
        // A folder where the file should be: reading it fails (EISDIR).
        try await heals({ path in
            try FileSystem.remove(path)
            #expect(mkdir(path, 0o700) == 0)
        }, expecting: "cannot be read")
    }

    @Test func missingBesideASpoolThatHoldsBatches() async throws {
        let dir = try await spooledState()
        try FileSystem.remove(dir.path + "/checkpoints.json")
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: Self.total, perChunk: 100)], sink: sink)
        #expect(pipeline.counters[.checkpointResets] == 1)
        #expect(try await pipeline.run(mode: .once))
        #expect(try numbers(sink.records).sorted() == Array(0..<Self.total))
        #expect(try CheckpointStore(directory: dir.path).lastReset?.reason.contains("is missing while the spool holds") == true)
    }

    @Test func withAnEmptySpoolTheSourcesStartFromReadFromAndThatIsCounted() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let first = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 500, perChunk: 100)], sink: sink)
        #expect(try await first.run(mode: .once))
        try FileSystem.writeAtomically(Array("{".utf8), to: dir.path + "/checkpoints.json")
        let second = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 500, perChunk: 100)], sink: sink)
        #expect(try await second.run(mode: .once))
        // Nothing to rebuild from: the source starts over (CountingSource's readFrom is its beginning).
        #expect(second.counters[.checkpointResets] == 1)
        #expect(second.counters[.checkpointResetSources] == 1)
        #expect(try numbers(sink.records).count == 1000)
    }

    @Test func theRebuiltFileIsWrittenAtOnceAndTheNextStartIsNormal() async throws {
        let dir = try await spooledState()
        try FileSystem.writeAtomically(Array("garbage".utf8), to: dir.path + "/checkpoints.json")
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.failNext(1_000_000)
        let healed = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: Self.total, perChunk: 100)], sink: sink)
        #expect(try await healed.run(mode: .once) == false)
        let again = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: Self.total, perChunk: 100)], sink: sink)
        // No second reset: the file written after the first one is valid.
        #expect(again.counters[.checkpointResets] == 1)
        #expect(try asideFiles(dir).count == 1)
    }

    @Test func newBatchesAreNumberedAboveEverySequenceInUse() async throws {
        // A lost checkpoint file must not make a new batch overwrite a file the file sink delivered earlier.
        let dir = TemporaryDirectory()
        let outbox = dir.path + "/outbox"
        let fileSink = FileSink(directory: outbox, compressor: TestCompressor(), level: 1)
        let first = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 1000, perChunk: 100)], sink: fileSink)
        #expect(try await first.run(mode: .once))
        var delivered: [String: [UInt8]] = [:]
        for name in try FileSystem.list(outbox) ?? [] { delivered[name] = try FileSystem.read(outbox + "/" + name) }
        #expect(delivered.count > 1)
        try FileSystem.remove(dir.path + "/checkpoints.json")
        let second = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "b", total: 1000, perChunk: 100)], sink: fileSink)
        #expect(second.checkpoints.lastSequence >= UInt64(delivered.count))
        #expect(try await second.run(mode: .once))
        let after = try FileSystem.list(outbox) ?? []
        // Every file of the second run is new (how many there are depends on when the flush timer cut batches).
        #expect(second.counters[.batchesDelivered] > 0)
        #expect(after.count == delivered.count + second.counters[.batchesDelivered])
        for (name, bytes) in delivered { #expect(try FileSystem.read(outbox + "/" + name) == bytes) }
    }

    @Test func spoolFileNamesOutOfRangeAreLeftAlone() async throws {
        let dir = TemporaryDirectory()
        try FileSystem.makeDirectories(dir.path + "/spool")
        let gzip = try Gzip.compress(Array("{\"n\":1}\n".utf8))
        for name in [
            "18446744073709551615-1000-1.ndjson.gz",  // sequence past 2^53
            "00000000000000000007-1000-9223372036854775807.ndjson.gz",  // records past a million (sums would overflow)
            "00000000000000000008-9223372036854775807-1.ndjson.gz",  // created after 9999
            "00000000000000000000-1000-1.ndjson.gz",  // sequence 0
        ] {
            try FileSystem.writeAtomically(gzip, to: dir.path + "/spool/" + name)
        }
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 100, perChunk: 10)], sink: sink)
        #expect(pipeline.spool.depth == SpoolDepth())
        #expect(try await pipeline.run(mode: .once))
        #expect(try numbers(sink.records) == Array(0..<100))
        #expect(try FileSystem.list(dir.path + "/spool")?.count == 4)
    }

    @Test func positionsOutOfRangeInASpoolHeaderAreNotTaken() throws {
        let gzip = try Gzip.compress(Array("{}\n".utf8))
        let good = FilePosition(path: "/x", device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256, offset: 10)
        let file = try #require(SpoolRecord.make(gzip, positions: ["docker/x": .file(good)]))
        #expect(SpoolRecord.verify(file.bytes) == .intact)
        #expect(SpoolRecord.positions(in: file.bytes) == ["docker/x": .file(good)])
        // A header that is intact but says what EdgeLog never writes: none of its positions is taken.
        for bad in [
            FilePosition(path: "/x", device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256, offset: -1),
            FilePosition(path: "/x", device: 1, inode: 2, fingerprint: 3, fingerprintLength: 1 << 40, offset: 10),
        ] {
            let file = try #require(SpoolRecord.make(gzip, positions: ["docker/x": .file(bad), "journal": .cursor("c")]))
            #expect(SpoolRecord.verify(file.bytes) == .intact)
            #expect(SpoolRecord.positions(in: file.bytes).isEmpty)
        }
    }

    @Test func deadLetterMetadataOutOfRangeIsLeftOut() throws {
        let dir = TemporaryDirectory()
        let store = DeadLetterStore(directory: dir.path)
        let entry = try #require(SpoolEntry(fileName: "00000000000000000005-1000-3.ndjson.gz", bytes: 0))
        try store.store(entry, payload: try Gzip.compress([1]), reason: "r", detail: "d")
        try FileSystem.writeAtomically(
            Array(#"{"sequence": -5, "records": 3, "reason": "r", "deadLetteredAtMillis": -9223372036854775808}"#.utf8),
            to: dir.path + "/" + entry.fileName + ".json")
        let meta = try #require(store.metadata(entry))
        #expect(meta["deadLetteredAtMillis"] == nil)
        #expect(meta["sequence"] == nil)
        #expect(meta["records"]?.intValue == 3)
        #expect(meta["reason"]?.stringValue == "r")
    }
}
