import EdgeLogApp
import EdgeLogCore
import EdgeLogDocker
import EdgeLogGzip
import EdgeLogTestKit
import Logging
import Testing

/// A full disk holds reading back; it never drops what the source still holds. The state folder is a small real
/// tmpfs that is filled up and freed; the source is the real Docker source following a real json-file log.
@Suite(.serialized) struct FullDiskTests {
    @Test(.enabled(if: SmallFileSystem.available, "mounting a tmpfs needs root (CI runs as root)"))
    func aFullStateDiskHoldsReadingBackAndEveryLineIsDeliveredOnceThereIsRoom() async throws {
        let disk = try SmallFileSystem(bytes: 4 << 20)
        let work = TemporaryDirectory()
        let containers = try work.makeDirectory("containers")
        let container = try DockerContainerFixture(root: containers, name: "app")
        var c = Configuration()
        c.stateDirectory = disk.path + "/state"
        c.docker.containersDirectory = containers
        c.docker.excludeSelf = false
        c.batch.maxBytes = 64 * 1024
        c.batch.flushIntervalSeconds = 0.05
        c.spool.maxBytes = 256 << 20  // far above the disk: the disk fills first
        // The upstream is down while the disk fills: batches pile up in the spool, as on a device offline.
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.failNext(Int.max)
        let pipeline = try Pipeline(
            configuration: c, host: HostIdentity(computer: "t"),
            sources: [DockerSource(settings: c.docker, environment: [:])], sink: sink,
            compressor: GzipBatchCompressor(), logger: Logger(label: "full-disk"),
            retryBackoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(100)))
        let run = Task { try await pipeline.run(mode: .follow) }

        // Lines that do not compress to nothing, so the spool takes room.
        func lines(_ range: Range<Int>) -> [String] {
            range.map { i in "line \(i) " + String(UInt64(i).multipliedFullWidth(by: 0x9E37_79B9_7F4A_7C15).low, radix: 36) }
        }
        try container.log(lines(0..<3000))
        try await eventually("the first lines spooled") { pipeline.counters[.recordsSpooled] >= 3000 }
        let spooledBefore = pipeline.spool.snapshot.count
        #expect(spooledBefore > 0)
        let sizeBefore = try #require(try FileSystem.status(container.logPath)).st_size

        try disk.fill()
        try container.log(lines(3000..<6000))
        try await eventually("a spool write fails for lack of room") { pipeline.spool.writeBlocked != nil }
        let blocked = try #require(pipeline.spool.writeBlocked)
        #expect(blocked.diskFull)
        #expect(pipeline.counters[.spoolWriteBlocks] == 1)
        try await eventually("more failed attempts, one episode") { pipeline.counters[.spoolWriteErrors] >= 3 }
        #expect(pipeline.counters[.spoolWriteBlocks] == 1)
        // Nothing was dropped to make room, and what was spooled is still there.
        #expect(pipeline.counters[.spoolDroppedSizeBatches] == 0)
        #expect(pipeline.spool.snapshot.count >= spooledBefore)
        // The checkpoint stays where it was: none of the lines written since is committed.
        guard case .file(let committed)? = pipeline.checkpoints.positions["docker/" + container.id] else {
            Issue.record("no position for the container")
            return
        }
        #expect(committed.offset <= Int64(sizeBefore))

        disk.free()
        sink.failNext(0)
        try await eventually("every line delivered") { sink.records.count >= 6000 }
        try await eventually("writable again") { pipeline.spool.writeBlocked == nil }
        pipeline.shutdown()
        _ = try await run.value
        let messages = try sink.records.map { try #require(try JSONParser.parse($0)["Message"]?.stringValue) }
        #expect(messages == lines(0..<6000))
        #expect(pipeline.counters[.spoolDroppedSizeRecords] == 0 && pipeline.counters[.spoolDroppedTTLRecords] == 0)
    }
}
