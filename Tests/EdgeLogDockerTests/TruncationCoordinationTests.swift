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
        let drained = h.sink.records.count
        // 2. The writer goes on; rotation copies the file (with the new lines) and truncates it.
        try c.log((1000..<1100).map { "n \($0)" })
        let copy = c.logPath + ".1"
        try FileManager.default.copyItem(atPath: c.logPath, toPath: copy)
        let size = try FileManager.default.attributesOfItem(atPath: c.logPath)[.size] as! Int64
        try c.truncate()
        try c.log((1100..<1200).map { "n \($0)" })
        // While held, nothing past the drain is read from the live file.
        #expect(h.sink.records.count <= drained + 0)
        // 3. The tailer takes 1000..<1100 from the copy, then reads the live file from 0.
        await coordinator.finishTruncation(path: spelled, truncatedAt: size, rotatedCopy: copy)
        try await eventually("every line") { h.sink.records.count >= 1200 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<1200).map { "n \($0)" })
        #expect(pipeline.counters[.filesTruncatedDetected] == 0)
    }

    @Test func aFileNobodyFollowsNeedsNoCoordination() async throws {
        let coordinator = DockerTruncationCoordinator()
        // No source attached: answered at once.
        #expect(!(await coordinator.prepareTruncation(path: "/nowhere/x.log")))
        await coordinator.finishTruncation(path: "/nowhere/x.log", truncatedAt: 0, rotatedCopy: "/nowhere/x.log.1")
    }
}
