import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Synchronization
import Testing

@testable import EdgeLogDocker

/// Docker's own rotation (`max-size`, `max-file`, `compress`), written the way dockerd writes it, through the real
/// pipeline into a collecting sink.
@Suite struct RotationChainTests {
    typealias Harness = DockerSourceTests.Harness

    @Test(arguments: [false, true])
    func onceReadsEveryFileOfTheChainOldestFirst(compress: Bool) async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "chain")
        let w = ChainWriter(c)
        try w.log(0..<100) { "line \($0)" }
        try w.rotate(compress: compress, lastTime: ChainWriter.time(99))
        try w.log(100..<200) { "line \($0)" }
        try w.rotate(compress: compress, lastTime: ChainWriter.time(199))
        try w.log(200..<300) { "line \($0)" }
        let names = try FileManager.default.contentsOfDirectory(atPath: c.directory).filter { $0.contains("-json.log") }
        #expect(Set(names) == Set([w.base, w.base + ".1", w.base + ".2"].map { compress && $0 != w.base ? $0 + ".gz" : $0 }))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == (0..<300).map { "line \($0)" })
        #expect(counters[.dockerRotationGaps] == 0)
    }

    @Test func readFromEndStartsAtTheLiveFilesEnd() async throws {
        let h = try Harness()
        h.settings.readFrom = "end"
        let c = try DockerContainerFixture(root: h.containers, name: "late")
        let w = ChainWriter(c)
        try w.log(0..<10) { "old \($0)" }
        try w.rotate()
        try w.log(10..<20) { "old \($0)" }
        #expect(try await h.pipeline().run(mode: .once))
        try w.log(20..<25) { "new \($0)" }
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages() == (20..<25).map { "new \($0)" })
    }

    /// The checkpoint names a file dockerd then renamed twice and compressed: it is found by its first bytes, the
    /// rest of it is read from the compressed file, then every newer file.
    @Test(arguments: [false, true])
    func aRestartFindsThePositionAfterRenamesAndCompression(compress: Bool) async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "moved")
        let w = ChainWriter(c)
        try w.log(0..<100) { "m \($0)" }
        #expect(try await h.pipeline().run(mode: .once))
        try w.log(100..<150) { "m \($0)" }
        try w.rotate(compress: compress, lastTime: ChainWriter.time(149))
        try w.log(150..<200) { "m \($0)" }
        try w.rotate(compress: compress, lastTime: ChainWriter.time(199))
        try w.log(200..<250) { "m \($0)" }
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == (0..<250).map { "m \($0)" })
        #expect(counters[.dockerRotationGaps] == 0)
        // Nothing is left behind.
        let state = try CheckpointStore(directory: h.configuration.stateDirectory)
        let backlog = ChainBacklog.of(containersDirectory: h.containers, id: c.id, position: state.positions["docker/" + c.id])
        #expect(backlog == ChainBacklog(bytes: 0, unreadRotatedFiles: 0, positionFileGone: false))
    }

    /// A checkpoint written before positions carried a time and a first-line fingerprint (256 bytes then) still
    /// resumes exactly, also after the file was rotated.
    @Test func anOlderCheckpointStillResumesWhereItWas() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "legacy")
        let w = ChainWriter(c)
        try w.log(0..<100) { "old \($0)" }
        let bytes = try #require(try FileSystem.read(w.path))
        // Shipped up to the end of line 60.
        let offset = Int64(bytes.split(separator: 0x0A).prefix(60).reduce(0) { $0 + $1.count + 1 })
        var st = stat()
        #expect(lstat(w.path, &st) == 0)
        let fingerprint = bytes.prefix(256).withUnsafeBufferPointer { FileIdentity.hash($0) }
        let legacy = try JSONParser.parse(
            Array(
                """
                {"version":1,"lastSequence":0,"counters":{},"sources":{"docker/\(c.id)":{"path":"\(w.path)",
                "device":\(st.st_dev),"inode":\(st.st_ino),"fingerprint":"\(String(fingerprint, radix: 16))",
                "fingerprintLength":256,"offset":\(offset)}}}
                """.utf8))
        try FileSystem.makeDirectories(h.configuration.stateDirectory)
        try FileSystem.writeAtomically(Array(legacy.serialized().utf8), to: h.configuration.stateDirectory + "/checkpoints.json")
        try w.rotate()
        try w.log(100..<120) { "old \($0)" }
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == (60..<120).map { "old \($0)" })
        #expect(counters[.dockerRotationGaps] == 0)
    }

    /// Files dockerd deleted while EdgeLog was stopped: reading goes on at the oldest file there is, and the gap is
    /// counted once with the bytes estimated from the entries' times (here: exact, the writer is regular).
    @Test func aGapWhileStoppedIsCountedWithAnEstimateOfWhatWasLost() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "gap")
        let w = ChainWriter(c)
        let message: (Int) -> String = { String(format: "entry %06d", $0) }
        try w.log(0..<1000, message)
        #expect(try await h.pipeline().run(mode: .once))
        try w.log(1000..<2000, message)  // never read: the file goes before the next start
        try w.rotate()
        try w.log(2000..<3000, message)
        try w.rotate()
        try w.log(3000..<4000, message)
        try w.rotate()
        try w.log(4000..<5000, message)
        let entryBytes = DockerContainerFixture.line(message(0) + "\n", time: ChainWriter.time(0)).utf8.count
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == ((0..<1000).map(message) + (2000..<5000).map(message)))
        #expect(counters[.dockerRotationGaps] == 1)
        let lost = 1000 * entryBytes
        #expect(abs(counters[.dockerBytesLost] - lost) <= entryBytes, "estimated \(counters[.dockerBytesLost]) of \(lost)")
    }

    /// While following: files rotated away faster than the source reads are read in order, each once.
    @Test(arguments: [false, true])
    func followingReadsFilesRotatedAwayMeanwhile(compress: Bool) async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "fast")
        let w = ChainWriter(c)
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try w.log(0..<500) { "f \($0)" }
        try await eventually("the first lines") { h.sink.records.count == 500 }
        for round in 1..<6 {
            try w.log((round * 500)..<(round * 500 + 500)) { "f \($0)" }
            try w.rotate(maxFile: 4, compress: compress, lastTime: ChainWriter.time(round * 500 + 499))
        }
        try w.log(3000..<3100) { "f \($0)" }
        try await eventually("every line") { h.sink.records.count >= 3100 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<3100).map { "f \($0)" })
        #expect(pipeline.counters[.dockerRotationGaps] == 0)
    }

    /// A file the chain has seen stays readable after dockerd deletes it; past the limit (as many deleted files as
    /// dockerd keeps) the oldest is given up, its exact size counted.
    @Test func filesSeenAreHeldOpenUntilReadAndTheLimitIsCounted() throws {
        let dir = TemporaryDirectory()
        let c = try DockerContainerFixture(root: dir.path, name: "held")
        let w = ChainWriter(c)
        let counters = Counters()
        let chain = LogChain(
            directory: c.directory, base: w.base, clock: JSONFileClock(), label: "held", counters: counters,
            logger: Logger(label: "t"))
        try w.log(0..<10) { "h \($0)" }
        let first = try #require(chain.start(position: nil, atEnd: false))
        var sizes: [Int64] = []
        // Eight rotations with max-file 2 while the first file is being read: the chain looks after each.
        for round in 1...8 {
            try w.log((round * 10)..<(round * 10 + 10)) { "h \($0)" }
            try w.rotate(maxFile: 2)
            sizes.append(Int64(try FileManager.default.attributesOfItem(atPath: w.path + ".1")[.size] as! Int))
            chain.observe()
        }
        // On disk: .1 and the live file. Held: the deleted ones up to the limit (2). The file being read was
        // deleted too: its reader is told to give up its rest first.
        let toldToGiveUp = chain.giveUpCurrent.load(ordering: .relaxed)
        #expect(toldToGiveUp)
        chain.finish(first.file, lastTime: nil)
        var read: [String] = []
        while let next = chain.next() {
            let bytes = next.head(1 << 20)
            read += String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            chain.finish(next, lastTime: nil)
        }
        let messages = read.compactMap { try? JSONParser.parse(Array($0.utf8))["log"]?.stringValue }
        // The files of rounds 2..5 (lines 20..<60) were given up, deleted beyond the limit; the rest is read from
        // the two held deleted files and from disk. One gap: nothing was read between the files given up.
        #expect(messages == (60..<90).map { "h \($0)\n" })
        #expect(counters[.dockerRotationGaps] == 1)
        #expect(Int64(counters[.dockerBytesLost]) == sizes[1...4].reduce(0, +))
    }
}
