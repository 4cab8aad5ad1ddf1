import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

@testable import EdgeLogDocker

extension ChainWriter {
    init(local fixture: LocalContainerFixture) {
        directory = fixture.logDirectory
        base = "container.log"
    }
}

/// Docker's `local` logging driver: entries decoded by hand, its rotation chain, partial messages, bad input,
/// through the real pipeline into a collecting sink.
@Suite struct LocalDriverTests {
    typealias Harness = DockerSourceTests.Harness
    typealias E = LocalLogEncoding

    static func rfc3339(_ ms: Int) -> String { ChainWriter.time(ms) }

    // MARK: the decoder

    @Test func theDecoderReadsEveryFieldAndSkipsUnknownOnes() throws {
        var framed = E.entry(
            Array("hello".utf8), source: "stderr", timeNanos: LocalContainerFixture.time(1500),
            attrs: [("tag", "a\"b"), ("env", "x")])
        var line = DockerLine()
        let whole = framed.withUnsafeBufferPointer { LocalEntryDecoder.entry($0, at: 0, into: &line) }
        #expect(whole?.size == framed.count)
        #expect(whole?.timeNanos == LocalContainerFixture.time(1500))
        #expect(String(decoding: line.log, as: UTF8.self) == "hello\n")
        #expect(line.stream == .stderr)
        #expect(String(decoding: line.time, as: UTF8.self) == Self.rfc3339(1500))
        #expect(try JSONParser.parse(line.attrs) == .object([("tag", .string("a\"b")), ("env", .string("x"))]))

        // A field this decoder does not know (number 9, each wire type) is skipped.
        var message = Array(framed[4..<(framed.count - 4)])
        message += [9 << 3 | 0, 0x96, 0x01, 9 << 3 | 1] + [UInt8](repeating: 7, count: 8)
        message += [9 << 3 | 2, 2, 0x41, 0x42, 9 << 3 | 5, 1, 2, 3, 4]
        var time: Int64?
        #expect(message.withUnsafeBufferPointer { LocalEntryDecoder.decode($0, into: &line, time: &time) })
        #expect(String(decoding: line.log, as: UTF8.self) == "hello\n")

        // Pieces: not last → no newline; last (even empty) → newline.
        framed = E.entry(Array("abc".utf8), timeNanos: 5, partial: .init(last: false, id: "i", ordinal: 1))
        #expect(framed.withUnsafeBufferPointer { LocalEntryDecoder.entry($0, at: 0, into: &line) } != nil)
        #expect(line.log == Array("abc".utf8))
        framed = E.entry([], timeNanos: 5, partial: .init(last: true, id: "i", ordinal: 2))
        #expect(framed.withUnsafeBufferPointer { LocalEntryDecoder.entry($0, at: 0, into: &line) } != nil)
        #expect(line.log == [0x0A])
        #expect(line.stream == .stdout)
    }

    @Test func theDecoderRefusesWhatIsNotAnEntry() {
        var line = DockerLine()
        var time: Int64?
        let bad: [[UInt8]] = [
            [0x0A, 0x10, 0x41],  // a string longer than the message
            [0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // a varint of 11 bytes
            [0x0B],  // wire type 3 (groups)
            [0x10, 0x01],  // no source
            [0x0A, 0x06] + Array("stdout".utf8) + [0x10],  // cut varint
        ]
        for b in bad { #expect(!b.withUnsafeBufferPointer { LocalEntryDecoder.decode($0, into: &line, time: &time) }) }
        // Framing: zero, over 1 MiB, lengths that differ, an entry not all there.
        let good = E.entry(Array("x".utf8), timeNanos: 1)
        var differ = good
        differ[differ.count - 1] ^= 1
        for framed in [[0, 0, 0, 0] + good, [0, 0x10, 0, 1] + good, differ, Array(good.dropLast())] {
            #expect(framed.withUnsafeBufferPointer { LocalEntryDecoder.entry($0, at: 0, into: &line) } == nil)
        }
    }

    // MARK: through the pipeline

    @Test func localRecordsCarryTimesStreamsLevelsAndMetadata() async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "edgeAgent", image: "mcr/edgeagent:1.5")
        try c.append(E.entry(Array("<4> disk low".utf8), timeNanos: LocalContainerFixture.time(0)))
        try c.append(E.entry(Array("plain".utf8), timeNanos: LocalContainerFixture.time(1)))
        try c.append(E.entry(Array("oops".utf8), source: "stderr", timeNanos: LocalContainerFixture.time(2)))
        try c.append(E.entry([], timeNanos: LocalContainerFixture.time(3)))
        try c.append(E.entry(Array("tagged".utf8), timeNanos: LocalContainerFixture.time(4), attrs: [("tag", "t1")]))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let r = try h.records()
        #expect(r.map { $0["Message"]!.stringValue! } == ["<4> disk low", "plain", "oops", "", "tagged"])
        #expect(r.map { $0["Level"]!.intValue! } == [4, 6, 3, 6, 6])
        #expect(r.map { $0["Stream"]!.stringValue! } == ["stdout", "stdout", "stderr", "stdout", "stdout"])
        #expect(r.map { $0["TimeGenerated"]!.stringValue! } == (0..<5).map { Self.rfc3339($0) })
        #expect(r[0]["ModuleId"]?.stringValue == "edgeAgent")
        #expect(r[0]["ContainerId"]?.stringValue == String(c.id.prefix(12)))  // the default: `records.containerId: short`
        #expect(r[0]["ContainerImage"]?.stringValue == "mcr/edgeagent:1.5")
        #expect(r[4]["Extra"]?["attrs"]?["tag"]?.stringValue == "t1")
        #expect(counters[.linesMalformed] == 0)
    }

    @Test func splitMessagesAreRejoinedIncludingAnEmptyLastPieceAndACutOne() async throws {
        let h = try Harness()
        h.settings.maxMessageBytes = 64 * 1024
        let c = try LocalContainerFixture(root: h.containers, name: "big")
        let long = Array(String(repeating: "a", count: 16384) + String(repeating: "b", count: 100)).map { $0.asciiValue! }
        let exact = [UInt8](repeating: 0x63, count: 32 * 1024)
        try c.append(E.message(long, timeNanos: LocalContainerFixture.time(0), id: "1"))
        try c.append(E.message(Array("between".utf8), source: "stderr", timeNanos: LocalContainerFixture.time(1)))
        try c.append(E.message(exact, timeNanos: LocalContainerFixture.time(2), id: "2"))
        try c.append(E.message(Array("after".utf8), timeNanos: LocalContainerFixture.time(3)))
        // The container exits in the middle of a line: no last piece.
        try c.append(E.message(Array("no newline".utf8), timeNanos: LocalContainerFixture.time(4), id: "3", complete: false))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let r = try h.records()
        #expect(r.map { $0["Message"]!.stringValue!.utf8.count } == [long.count, 7, exact.count, 5, 10])
        #expect(r[0]["Message"]?.stringValue == String(decoding: long, as: UTF8.self))
        #expect(r[2]["Message"]?.stringValue == String(decoding: exact, as: UTF8.self))
        #expect(r[2]["TimeGenerated"]?.stringValue == Self.rfc3339(2))
        #expect(r[4]["Message"]?.stringValue == "no newline")
        #expect(counters[.partialsFlushed] == 1)
        #expect(counters[.linesMalformed] == 0)
        // Committed past all of it: a second run ships nothing again.
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.count == 5)
    }

    @Test func aCutMessageIsShippedAfterPartialFlushSecondsWhileFollowing() async throws {
        let h = try Harness()
        h.settings.partialFlushSeconds = 0.2
        let c = try LocalContainerFixture(root: h.containers, name: "quitter")
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.log(0..<10) { "l \($0)" }
        try c.append(E.message(Array("last words".utf8), timeNanos: LocalContainerFixture.time(10), complete: false))
        try await eventually("the cut message") { h.sink.records.count == 11 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<10).map { "l \($0)" } + ["last words"])
        #expect(pipeline.counters[.partialsFlushed] == 1)
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.count == 11)
    }

    @Test func rejoinMemoryIsBoundedByMaxPendingBytesOverAllContainers() async throws {
        let h = try Harness()
        h.settings.maxMessageBytes = 40 * 1024
        h.settings.maxPendingBytes = 64 * 1024
        h.settings.partialFlushSeconds = 1000
        h.configuration.batch.maxBytes = 200_000
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let piece = [UInt8](repeating: 0x70, count: 16 * 1024)
        var fixtures: [LocalContainerFixture] = []
        for i in 0..<3 {
            let c = try LocalContainerFixture(root: h.containers, name: "big\(i)")
            let t = LocalContainerFixture.time(i)
            try c.append(
                E.entry(piece, timeNanos: t, partial: .init(last: false, id: "m\(i)", ordinal: 1))
                    + E.entry(piece, timeNanos: t, partial: .init(last: false, id: "m\(i)", ordinal: 2)))
            fixtures.append(c)
            try await eventually("container \(i)'s pieces read") { pipeline.counters[.bytesReadDocker] >= (i + 1) * 2 * 16400 }
        }
        try await eventually("the oldest open message cut") { pipeline.counters[.partialsCut] == 1 }
        for (i, c) in fixtures.enumerated() {
            try c.append(
                E.entry(Array("end".utf8), timeNanos: LocalContainerFixture.time(i), partial: .init(last: true, id: "m\(i)", ordinal: 3)))
        }
        try await eventually("every message") { h.sink.records.count == 4 }
        pipeline.shutdown()
        _ = try await task.value
        let m = try h.records().map { ($0["ModuleId"]!.stringValue!, $0["Message"]!.stringValue!) }
        let whole = String(decoding: piece + piece, as: UTF8.self)
        #expect(m[0].0 == "big0" && m[0].1 == whole)
        #expect(Set(m.dropFirst().map { "\($0.0) \($0.1.suffix(4))" }) == ["big0 end", "big1 pend", "big2 pend"])
        #expect(m.filter { $0.0 != "big0" }.allSatisfy { $0.1 == whole + "end" })
        #expect(pipeline.counters[.partialsCut] == 1)
    }

    /// While a message is open the checkpoint moves past every entry shipped and records where the open message
    /// began; a restart from it (a crash: nothing shipped the message) rebuilds the message and ships nothing twice.
    @Test func anOpenMessageSurvivesACrashWithoutDuplicates() async throws {
        let h = try Harness()
        h.settings.partialFlushSeconds = 1000
        let c = try LocalContainerFixture(root: h.containers, name: "slow")
        let key = "docker/" + c.id
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.append(E.entry(Array("head-".utf8), timeNanos: LocalContainerFixture.time(0), partial: .init(last: false, id: "h", ordinal: 1)))
        try c.log(1..<1001, source: "stderr") { "e \($0)" }
        let size = Int64(try FileManager.default.attributesOfItem(atPath: c.logPath)[.size] as! Int)
        var committed: FilePosition?
        try await eventually("the stderr entries shipped, the checkpoint past them") {
            guard case .file(let p)? = pipeline.checkpoints.positions[key] else { return false }
            committed = p
            return p.offset == size && h.sink.records.count == 1000
        }
        #expect(committed?.openPartials == ["stdout": 0])
        pipeline.shutdown()
        _ = try await task.value
        #expect(h.sink.records.count == 1001)  // stopping ships the open message as it is

        // The state a crash would have left: that checkpoint, nothing shipped since.
        h.configuration.stateDirectory = h.dir.path + "/crashed"
        try FileSystem.makeDirectories(h.configuration.stateDirectory)
        let store = try CheckpointStore(directory: h.configuration.stateDirectory)
        store.apply([key: .file(committed!)], sequence: nil)
        #expect(await CheckpointCommitter(store: store, counters: Counters(), logger: Logger(label: "test")).flush())
        try c.append(E.entry(Array("tail".utf8), timeNanos: LocalContainerFixture.time(0), partial: .init(last: true, id: "h", ordinal: 2)))
        #expect(try await h.pipeline().run(mode: .once))
        #expect(Array(try h.messages().suffix(2)) == ["head-", "head-tail"])
        #expect(h.sink.records.count == 1002)
    }

    @Test(arguments: [false, true])
    func theRotationChainIsReadOldestFirstAndARestartShipsNothingTwice(compress: Bool) async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "chain")
        let w = ChainWriter(local: c)
        try c.log(0..<100) { "line \($0)" }
        try w.rotate(compress: compress, lastTime: Self.rfc3339(99))
        try c.log(100..<200) { "line \($0)" }
        #expect(try await h.pipeline().run(mode: .once))
        try c.log(200..<250) { "line \($0)" }
        try w.rotate(compress: compress, lastTime: Self.rfc3339(249))
        try c.log(250..<300) { "line \($0)" }
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == (0..<300).map { "line \($0)" })
        #expect(counters[.dockerRotationGaps] == 0)
        let state = try CheckpointStore(directory: h.configuration.stateDirectory)
        guard case .file(let p)? = state.positions["docker/" + c.id] else {
            Issue.record("no position")
            return
        }
        #expect(p.path == c.logPath)
        #expect(
            ChainBacklog.of(containersDirectory: h.containers, id: c.id, position: .file(p))
                == ChainBacklog(bytes: 0, unreadRotatedFiles: 0, positionFileGone: false))
    }

    @Test func followingReadsAnEntryWrittenInTwoPartsOnce() async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "writer")
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.log(0..<3) { "l \($0)" }
        try await eventually("the first entries") { h.sink.records.count == 3 }
        let entry = E.entry(Array(String(repeating: "w", count: 5000).utf8), timeNanos: LocalContainerFixture.time(3))
        try c.append(Array(entry[0..<2]))  // not even the whole length yet
        try c.append(Array(entry[2..<3000]))
        try c.append(Array(entry[3000...]))
        try c.log(4..<6) { "l \($0)" }
        try await eventually("the entry written in parts and the next ones") { h.sink.records.count == 6 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["l 0", "l 1", "l 2", String(repeating: "w", count: 5000), "l 4", "l 5"])
        #expect(pipeline.counters[.linesMalformed] == 0)
    }

    /// Damage of every kind in the middle of a file: skipped up to the next whole entry, counted, never a stall;
    /// and a file that ends inside an entry once it was rotated away.
    @Test func damagedEntriesAreSkippedAndCounted() async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "messy")
        let w = ChainWriter(local: c)
        var n = 0
        func next() -> [UInt8] {
            defer { n += 1 }
            return E.entry(Array("e \(n)".utf8), timeNanos: LocalContainerFixture.time(n))
        }
        var bytes = next()
        bytes += [0, 0, 0, 0]  // a zero length
        bytes += next()
        bytes += [0, 0x20, 0, 0] + [UInt8](repeating: 0x41, count: 64)  // a length of 2 MiB
        bytes += next()
        bytes += Array("garbage in the middle, some of it \u{0}\u{0}\u{1}".utf8)
        bytes += next()
        var differ = next()  // lengths that differ: skipped
        differ[differ.count - 1] ^= 0x01
        bytes += differ
        bytes += next()
        var undecodable = next()  // the message does not decode
        undecodable[4] = 0x0B
        bytes += undecodable
        bytes += next()
        try c.append(bytes)
        // The next file begins, and the old one ended inside an entry.
        let cut = next()
        try c.append(Array(cut.prefix(cut.count - 3)))
        try w.rotate()
        try c.append(next())
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == ["e 0", "e 1", "e 2", "e 3", "e 5", "e 7", "e 9"])
        #expect(counters[.linesMalformed] == 6)
    }

    @Test func aCompressedFileCutShortIsReadUpToTheCutAndTheChainGoesOn() async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "cutgz")
        let w = ChainWriter(local: c)
        try c.log(0..<2000) { "gz line \($0) " + String(repeating: "p", count: $0 % 50) }
        try w.rotate(compress: true, lastTime: Self.rfc3339(1999))
        let gz = c.logPath + ".1.gz"
        let whole = try FileSystem.read(gz)!
        try FileSystem.writeAtomically(Array(whole.prefix(whole.count / 2)), to: gz)
        try c.log(2000..<2010) { "gz line \($0) " }
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let m = try h.messages()
        #expect(m.count > 10 && m.count < 2010)
        #expect(m.suffix(10) == (2000..<2010).map { "gz line \($0) " })
        let before = Array(m.dropLast(10))
        #expect(before == (0..<before.count).map { "gz line \($0) " + String(repeating: "p", count: $0 % 50) })
        #expect(counters[.readErrors] >= 1)
    }

    @Test func theFilesAreOnlyRead() async throws {
        let h = try Harness()
        let c = try LocalContainerFixture(root: h.containers, name: "readonly")
        try c.log(0..<50) { "r \($0)" }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: c.logPath)
        let before = try FileSystem.read(c.logPath)!
        let statBefore = try FileSystem.status(c.logPath)!
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.count == 50)
        #expect(try FileSystem.read(c.logPath)! == before)
        let statAfter = try FileSystem.status(c.logPath)!
        #expect(statAfter.st_mode == statBefore.st_mode)
        #expect(statAfter.st_mtim.tv_sec == statBefore.st_mtim.tv_sec && statAfter.st_mtim.tv_nsec == statBefore.st_mtim.tv_nsec)
        #expect(try FileManager.default.contentsOfDirectory(atPath: c.logDirectory) == ["container.log"])
    }
}
