import EdgeLogCore
import EdgeLogDocker
import EdgeLogTestKit
import Foundation
import Logging
import Testing

/// The tailer's side of a lossless copytruncate, driven step by step the way the rotation engine drives it.
@Suite struct TruncationCoordinationTests {
    @Test func linesWrittenBetweenDrainAndTruncationComeFromTheCopy() async throws {
        let h = try DockerSourceTests.Harness()
        let coordinator = DockerTruncationCoordinator()
        let c = try DockerContainerFixture(root: h.containers, name: "busy")
        let pipeline = try Pipeline(
            configuration: h.configuration, host: HostIdentity(computer: "h"),
            sources: [DockerSource(settings: h.settings, environment: [:], coordinator: coordinator)], sink: h.sink,
            compressor: DockerSourceTests.Identity(), logger: Logger(label: "t"))
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.log((0..<1000).map { "n \($0)" })
        try await eventually("the source follows the file") { h.sink.records.count > 0 }

        // 1. Drain: everything written so far is read and handed on; the file is then held. Rotation may spell
        // the path differently (its globs): the file is recognised by device and inode.
        let spelled = c.directory + "//./" + FileSystem.basename(of: c.logPath)
        #expect(await coordinator.prepareTruncation(path: spelled))
        // Counted where the source reads (what reaches the sink lags behind delivery).
        let drained = pipeline.counters[.recordsReadDocker]
        // 2. The writer goes on; rotation copies the file (with the new lines) and truncates it.
        try c.log((1000..<1100).map { "n \($0)" })
        let copy = c.logPath + ".1"
        try FileManager.default.copyItem(atPath: c.logPath, toPath: copy)
        let size = try FileManager.default.attributesOfItem(atPath: c.logPath)[.size] as! Int64
        try c.truncate()
        try c.log((1100..<1200).map { "n \($0)" })
        // While held, nothing past the drain is read from the live file.
        #expect(pipeline.counters[.recordsReadDocker] == drained)
        // 3. The tailer takes 1000..<1100 from the copy, then reads the live file from 0.
        await coordinator.finishTruncation(path: spelled, truncatedAt: size, rotatedCopy: copy)
        try await eventually("every line") { h.sink.records.count >= 1200 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<1200).map { "n \($0)" })
        #expect(pipeline.counters[.filesTruncatedDetected] == 0)
    }

    /// A writer faster than the source must not keep the rotation waiting: the drain before the copy reads what the
    /// file held when rotation asked, not what keeps coming (that is read from the copy after the truncation).
    @Test func theDrainDoesNotChaseAFasterWriter() async throws {
        let h = try DockerSourceTests.Harness()
        let coordinator = DockerTruncationCoordinator()
        let c = try DockerContainerFixture(root: h.containers, name: "flood")
        let burst = (0..<6000).map { "flood line \($0) " + String(repeating: "x", count: 40) }
        // The writer: every chunk the source hands on makes the file grow by more than one read (256 KiB), so a
        // source reading "to the end" never gets there. It stops after `cap` bursts whatever happens.
        final class Writer: @unchecked Sendable {
            let lock = NSLock()
            var chasing = false
            var bursts = 0
        }
        let writer = Writer()
        let cap = 200
        let context = SourceContext(
            mode: .follow, checkpoints: [:], host: HostIdentity(computer: "h"), maxRecordBytes: 1 << 20,
            counters: Counters(), logger: Logger(label: "t"),
            emit: { _ in
                let grow = writer.lock.withLock { () -> Bool in
                    guard writer.chasing && writer.bursts < cap else { return false }
                    writer.bursts += 1
                    return true
                }
                if grow { try? c.log(burst) }
            })
        let source = DockerSource(settings: h.settings, environment: [:], coordinator: coordinator)
        let task = Task { try await source.run(context) }
        try c.log(["first"])
        try await eventually("the source follows the file") { await coordinator.prepareTruncation(path: c.logPath) }
        await coordinator.cancelTruncation(path: c.logPath)

        writer.lock.withLock { writer.chasing = true }
        try c.log(burst)
        let followed = await coordinator.prepareTruncation(path: c.logPath)
        let burstsWhenPrepared = writer.lock.withLock { () -> Int in
            writer.chasing = false
            return writer.bursts
        }
        #expect(followed)
        // Chasing would have gone on until the writer's cap.
        #expect(burstsWhenPrepared < cap, "the drain chased the writer (\(burstsWhenPrepared) bursts)")
        await coordinator.cancelTruncation(path: c.logPath)
        task.cancel()
        _ = try? await task.value
    }

    @Test func aFileNobodyFollowsNeedsNoCoordination() async throws {
        let coordinator = DockerTruncationCoordinator()
        // No source attached: answered at once.
        #expect(!(await coordinator.prepareTruncation(path: "/nowhere/x.log")))
        await coordinator.finishTruncation(path: "/nowhere/x.log", truncatedAt: 0, rotatedCopy: "/nowhere/x.log.1")
    }
}
