import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

@testable import EdgeLogDocker

/// Entries without their newline (Docker's partial messages): rejoined while they continue, shipped alone when they
/// do not, never holding back the checkpoint, never shipped twice, bounded in memory.
@Suite struct PartialMessageTests {
    typealias Harness = DockerSourceTests.Harness

    static func piece(_ text: String, stream: String = "stdout", at ms: Int) -> String {
        DockerContainerFixture.line(text, stream: stream, time: ChainWriter.time(ms))
    }

    @Test func anUnterminatedLastLineIsShippedOnceNothingFollowsIt() async throws {
        let h = try Harness()
        h.settings.partialFlushSeconds = 0.2
        let c = try DockerContainerFixture(root: h.containers, name: "quitter")
        let w = ChainWriter(c)
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try w.log(0..<10) { "l \($0)" }
        try w.append(Self.piece("last words", at: 10))
        try await eventually("the unterminated line") { h.sink.records.count == 11 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<10).map { "l \($0)" } + ["last words"])
        #expect(pipeline.counters[.partialsFlushed] == 1)
        // It was committed past: a restart ships nothing again.
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.count == 11)
    }

    @Test func runOnceShipsAnUnterminatedLastLineAtItsEnd() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "oneshot")
        let w = ChainWriter(c)
        try w.log(0..<3) { "l \($0)" }
        try w.append(Self.piece("no newline", at: 3))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == ["l 0", "l 1", "l 2", "no newline"])
        #expect(counters[.partialsFlushed] == 1)
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.count == 4)
    }

    /// While a message is open the checkpoint still moves past every line shipped: it records where the open
    /// message began. A restart from that checkpoint (after a crash: nothing shipped it) rebuilds the message and
    /// ships nothing twice.
    @Test func anOpenMessageNeitherHoldsBackTheCheckpointNorCausesDuplicates() async throws {
        let h = try Harness()
        h.settings.partialFlushSeconds = 1000
        let c = try DockerContainerFixture(root: h.containers, name: "slow")
        let w = ChainWriter(c)
        let key = "docker/" + c.id
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try w.append(Self.piece("head-", at: 0))
        try w.log(1..<1001, stream: "stderr") { "e \($0)" }
        let size = Int64(try FileManager.default.attributesOfItem(atPath: w.path)[.size] as! Int)
        var committed: FilePosition?
        try await eventually("the stderr lines shipped, the checkpoint past them") {
            guard case .file(let p)? = pipeline.checkpoints.positions[key] else { return false }
            committed = p
            return p.offset == size && h.sink.records.count == 1000
        }
        #expect(committed?.openPartials == ["stdout": 0])
        #expect(h.sink.records.count == 1000)
        pipeline.shutdown()
        _ = try await task.value
        #expect(h.sink.records.count == 1001)  // stopping ships the open message as it is

        // The state a crash would have left: that checkpoint, nothing shipped since.
        h.configuration.stateDirectory = h.dir.path + "/crashed"
        try FileSystem.makeDirectories(h.configuration.stateDirectory)
        let store = try CheckpointStore(directory: h.configuration.stateDirectory)
        store.apply([key: .file(committed!)], sequence: nil)
        #expect(await CheckpointCommitter(store: store, counters: Counters(), logger: Logger(label: "test")).flush())
        try w.append(Self.piece("tail\n", at: 0))
        #expect(try await h.pipeline().run(mode: .once))
        #expect(Array(try h.messages().suffix(2)) == ["head-", "head-tail"])
        #expect(h.sink.records.count == 1002)
    }

    /// A container killed in the middle of a line and started again: the piece of the first run and the first line
    /// of the second are two records (config.v2.json's StartedAt says the container started in between).
    @Test func aRestartedContainerDoesNotGlueItsTwoRuns() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "phoenix")
        let w = ChainWriter(c)
        try w.append(Self.piece("run one, cut", at: 0))
        let config = """
            {"ID":"\(c.id)","Name":"/phoenix","Config":{"Image":"x","Labels":{}},\
            "State":{"Running":true,"StartedAt":"\(ChainWriter.time(5000))","FinishedAt":"\(ChainWriter.time(4000))"}}
            """
        try config.write(toFile: c.directory + "/config.v2.json", atomically: true, encoding: .utf8)
        try w.append(Self.piece("run two\n", at: 6000))
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages() == ["run one, cut", "run two"])
        #expect(try h.records()[0]["TimeGenerated"]?.stringValue == ChainWriter.time(0))
    }

    /// Rejoin memory is bounded over all containers: past maxPendingBytes the oldest open message goes out cut and
    /// its rest follows as a record of its own.
    @Test func rejoinMemoryIsBoundedOverAllContainers() async throws {
        let h = try Harness()
        h.settings.maxMessageBytes = 40 * 1024
        h.settings.maxPendingBytes = 64 * 1024
        h.settings.partialFlushSeconds = 1000
        h.configuration.batch.maxBytes = 200_000
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let piece = String(repeating: "p", count: 16 * 1024)
        var writers: [ChainWriter] = []
        for i in 0..<3 {
            let w = ChainWriter(try DockerContainerFixture(root: h.containers, name: "big\(i)"))
            try w.append(Self.piece(piece, at: 0) + Self.piece(piece, at: 0))  // dockerd: every piece has the first's time
            writers.append(w)
            try await eventually("container \(i)'s pieces read") { pipeline.counters[.bytesReadDocker] >= (i + 1) * 2 * 16400 }
        }
        try await eventually("the oldest open message cut") { pipeline.counters[.partialsCut] == 1 }
        for w in writers { try w.append(Self.piece("end\n", at: 0)) }
        try await eventually("every message") { h.sink.records.count == 4 }
        pipeline.shutdown()
        _ = try await task.value
        let m = try h.records().map { ($0["ModuleId"]!.stringValue!, $0["Message"]!.stringValue!) }
        #expect(m[0] == ("big0", piece + piece))
        #expect(Set(m.dropFirst().map { "\($0.0) \($0.1.suffix(4))" }) == ["big0 end", "big1 pend", "big2 pend"])
        #expect(m.filter { $0.0 != "big0" }.allSatisfy { $0.1 == piece + piece + "end" })
        #expect(pipeline.counters[.partialsCut] == 1)
    }

    /// A region of NUL bytes (a power cut while dockerd appended) is skipped, and the entry written after it on the
    /// same line is read, not dropped as malformed.
    @Test func nulRegionsAreSkippedAndTheEntryAfterThemIsRead() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "powercut")
        let w = ChainWriter(c)
        try w.append(Self.piece("before\n", at: 0))
        try w.append([UInt8](repeating: 0, count: 100) + Array(Self.piece("after\n", at: 1).utf8))
        try w.append(Array("{\"log\":\"cut in the midd".utf8) + [UInt8](repeating: 0, count: 50))
        try w.append(Self.piece("after the cut\n", at: 2))
        try w.append([UInt8](repeating: 0, count: 4096) + [0x0A])
        try w.append(Self.piece("last\n", at: 3))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == ["before", "after", "after the cut", "last"])
        #expect(counters[.nulBytesSkipped] == 100 + 50 + 4096)
        #expect(counters[.linesMalformed] == 1)
    }
}
