import EdgeLogCore
import EdgeLogDocker
import EdgeLogTestKit
import Foundation
import Logging
import Testing

/// EdgeLog against a real Docker engine (a private dockerd, see `DockerEngine`): containers write known lines, and
/// what EdgeLog shipped through the real pipeline is compared with them, and with what dockerd's files still hold.
@Suite(.enabled(if: DockerEngine.isAvailable, "needs a private dockerd: \(realDockerUnavailable)"))
struct RealDockerTests {
    /// The json-file entry dockerd writes for a stdout line `message` (its time is RFC 3339 with trailing zeros
    /// dropped: 30 bytes, rarely fewer): to compare byte counts with what EdgeLog counted lost.
    static func entryBytes(_ message: String) -> Int {
        "{\"log\":\"\(message)\\n\",\"stream\":\"stdout\",\"time\":\"\"}\n".utf8.count + 30
    }

    /// Waits until `pipeline` has read and delivered everything the container wrote (it has exited).
    static func followUntilCaughtUp(_ h: RealDockerHarness, _ pipeline: Pipeline, id: String) async throws {
        try await eventually("EdgeLog caught up with \(id.prefix(12))") {
            ChainBacklog.of(
                containersDirectory: h.engine.containersDirectory, id: id,
                position: pipeline.checkpoints.positions["docker/" + id])?.bytes == 0
                && pipeline.spool.oldest == nil
        }
    }

    @Test func interleavedStdoutAndStderrKeepTheirStreamsLevelsAndOrder() async throws {
        let h = try await RealDockerHarness()
        let id = try h.run(#"i=0; while [ $i -lt 3000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done"#)
        try h.engine.wait(id)
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let records = h.sink.records.filter { $0.container == id }
        #expect(records.filter { $0.stream == "stdout" }.map(\.message) == (0..<3000).map { "out \($0)" })
        #expect(records.filter { $0.stream == "stderr" }.map(\.message) == (0..<3000).map { "err \($0)" })
        #expect(records.allSatisfy { $0.level == ($0.stream == "stdout" ? 6 : 3) })
        // Everything as dockerd wrote it, in its order; the times byte for byte (dockerd writes them in UTC).
        let disk = try h.onDiskEntries(id)
        #expect(records.map(\.message) == disk.map(\.message))
        #expect(records.map(\.stream) == disk.map(\.stream))
        #expect(records.map(\.time) == disk.map(\.time))
    }

    @Test func escapesControlCharactersNonASCIIAndInvalidUTF8() async throws {
        let h = try await RealDockerHarness()
        // printf's octal escapes make every byte; dockerd replaces each invalid UTF-8 byte with U+FFFD.
        let lines: [[UInt8]] = [
            Array("tab\there \"quoted\" back\\slash".utf8),
            [0x63, 0x74, 0x6C, 0x01, 0x02, 0x1B, 0x5B, 0x33, 0x31, 0x6D, 0x7F, 0x0D],
            Array("héllo wörld ✓ 日本 😀 <tag>&amp; \u{2028}".utf8),
            [0x62, 0x61, 0x64, 0x20, 0xFF, 0xFE, 0x20, 0xE2, 0x82, 0x20, 0xC3, 0x28, 0x20, 0xED, 0xA0, 0x80, 0x21],
        ]
        let script = lines.map { "printf '" + $0.map { String(format: "\\%03o", $0) }.joined() + "\\n'" }.joined(separator: "; ")
        let id = try h.run(script)
        try h.engine.wait(id)
        #expect(try await h.pipeline().run(mode: .once))
        // A trailing \r is dropped with the newline, as for any line.
        let expected = lines.map { bytes -> String in
            var b = bytes
            if b.last == 0x0D { b.removeLast() }
            return Self.replacingInvalidBytes(b)
        }
        #expect(h.sink.messages(of: id) == expected)
        let disk = try h.onDisk(id).map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        #expect(h.sink.messages(of: id) == disk, "\(disk.map { Array($0.unicodeScalars.map(\.value)) })")
    }

    /// Go's rule (dockerd's encoder): each byte that does not start a valid UTF-8 sequence becomes U+FFFD.
    static func replacingInvalidBytes(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            var matched = false
            for length in 1...4 where i + length <= bytes.count {
                if let s = String(validating: bytes[i..<(i + length)], as: UTF8.self), s.unicodeScalars.count == 1 {
                    out += s
                    i += length
                    matched = true
                    break
                }
            }
            if !matched {
                out += "\u{FFFD}"
                i += 1
            }
        }
        return out
    }

    /// Lines of 20 KB and 100 KB come whole from Docker's 16 KiB pieces; one of 1 MB is over
    /// `docker.maxMessageBytes` (960 KiB, what a batch can hold): its head is shipped and the cut counted.
    @Test func longLinesAreRejoinedFromDockersPieces() async throws {
        let h = try await RealDockerHarness()
        let sizes = [20_000, 100_000, 1_000_000]
        let script = sizes.enumerated().map { i, n in
            "head -c \(n) /dev/zero | tr '\\0' '\(["a", "b", "c"][i])'; echo"
        }.joined(separator: "; ") + "; echo after"
        let id = try h.run(script)
        try h.engine.wait(id)
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let m = h.sink.messages(of: id)
        #expect(m.count == 4)
        #expect(m[0] == String(repeating: "a", count: 20_000))
        #expect(m[1] == String(repeating: "b", count: 100_000))
        #expect(m[2] == String(repeating: "c", count: Int(DockerSettings().maxMessageBytes)))
        #expect(m[3] == "after")
        #expect(counters[.messagesTruncated] == 1)
        // One record per message, timed at its first piece (dockerd gives every piece that time).
        let records = h.sink.records.filter { $0.container == id }
        #expect(Set(records.map(\.time)).count >= 2)
    }

    @Test func aLastLineWithoutNewlineIsShipped() async throws {
        let h = try await RealDockerHarness()
        let counters = Counters()
        let pipeline = try h.pipeline(counters: counters)
        let task = Task { try await pipeline.run(mode: .follow) }
        let id = try h.run("printf 'first\\nsecond\\nno newline at the end'")
        try h.engine.wait(id)
        try await eventually("the last line") { h.sink.messages(of: id).count == 3 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(h.sink.messages(of: id) == ["first", "second", "no newline at the end"])
        #expect(counters[.partialsFlushed] == 1)
        // Nothing is left behind, and a restart ships nothing twice.
        let position = try CheckpointStore(directory: h.configuration.stateDirectory).positions["docker/" + id]
        #expect(ChainBacklog.of(containersDirectory: h.engine.containersDirectory, id: id, position: position)?.bytes == 0)
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.messages(of: id).count == 3)
    }

    /// Killed in the middle of a line and started again: dockerd writes the unterminated piece of the first run when
    /// that run ends and the second run's first line after it; EdgeLog, reading both at once after the restart, ships
    /// them as two records (config.v2.json's StartedAt says the container started in between), not glued.
    @Test func aRestartInTheMiddleOfALineDoesNotGlueTheTwoRuns() async throws {
        let h = try await RealDockerHarness()
        h.configuration.docker.partialFlushSeconds = 600  // only the new run may end the piece
        let following = try h.pipeline()
        let task = Task { try await following.run(mode: .follow) }
        let id = try h.run(
            "if [ -f /tmp/ran ]; then echo second; else touch /tmp/ran; echo first; fi; printf 'cut'; sleep 1000")
        try await eventually("the first run's line") { h.sink.messages(of: id) == ["first"] }
        following.shutdown()
        _ = try await task.value
        // EdgeLog is stopped while the container is killed mid-line and started again.
        try h.engine.docker(["kill", id])
        try h.engine.wait(id)
        try h.engine.docker(["start", id])
        let live = h.engine.logPath(of: id)
        try await eventually("the second run's line written") {
            (try FileSystem.read(live) ?? []).split(separator: 0x0A).count == 3
        }
        let entries = try (FileSystem.read(live) ?? []).split(separator: 0x0A).map {
            try JSONParser.parse(Array($0))["log"]?.stringValue ?? ""
        }
        #expect(entries == ["first\n", "cut", "second\n"])  // dockerd's own entries: the piece has no newline
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.messages(of: id) == ["first", "cut", "second"])
    }

    /// `docker rm` right after the container exits: EdgeLog still ships every line it wrote (the files it saw
    /// stay open until read), then forgets the container.
    @Test func aRemovedContainerStillHasEveryLineShipped() async throws {
        let h = try await RealDockerHarness()
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let id = try h.run("seq 1 60000", logOptions: ["max-size": "1m", "max-file": "5"])
        try await eventually("the container seen") { !h.sink.messages(of: id).isEmpty }
        try h.engine.wait(id)
        try h.engine.remove(id)
        let shippedAtRemoval = h.sink.messages(of: id).count
        print("removed container: \(shippedAtRemoval) of 60000 shipped when it was removed")
        #expect(!FileManager.default.fileExists(atPath: h.engine.directory(of: id)))
        try await eventually("every line") { h.sink.messages(of: id).count >= 60000 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(h.sink.messages(of: id) == (1...60000).map(String.init), "\(shippedAtRemoval) shipped when removed")
        #expect(pipeline.counters[.dockerRotationGaps] == 0)
    }

    enum Reader: String, CaseIterable, Sendable {
        case following, restartedInTheMiddle, onceFromAFreshState
    }

    /// `seq` as fast as dockerd takes it (several MB/s) under `max-size=1m, max-file=3`: dockerd rotates every few
    /// tens of milliseconds and deletes files EdgeLog (a debug build) may not have read yet. Every line still in
    /// dockerd's files at the end is shipped exactly once, in order; what is missing was counted, its bytes matching.
    /// One case at a time: each keeps a core busy (dockerd taking seq's output) beside the rest of the test suite.
    @Test(.serialized, arguments: Reader.allCases, [false, true])
    func aFastWriterUnderDockersOwnRotation(reader: Reader, compress: Bool) async throws {
        let h = try await RealDockerHarness()
        let counters = Counters()
        let lines = 200_000
        var options = ["max-size": "1m", "max-file": "3"]
        if compress { options["compress"] = "true" }
        let id: String
        switch reader {
        case .following, .restartedInTheMiddle:
            let first = try h.pipeline(counters: counters)
            let task = Task { try await first.run(mode: .follow) }
            // The writer starts once EdgeLog follows the container (what dockerd deletes before EdgeLog first sees
            // a container is not known to it).
            id = try h.run("echo ready; until [ -f /tmp/go ]; do sleep 0.02; done; seq 1 \(lines)", logOptions: options)
            try await eventually("EdgeLog follows the container") { h.sink.messages(of: id) == ["ready"] }
            try h.engine.docker(["exec", id, "touch", "/tmp/go"])
            if reader == .restartedInTheMiddle {
                try await eventually("some lines") { h.sink.messages(of: id).count >= 5000 }
                first.shutdown()
                _ = try await task.value
                // dockerd writes on meanwhile; the second run starts where the first committed.
                let second = try h.pipeline(counters: counters)
                let again = Task { try await second.run(mode: .follow) }
                try h.engine.wait(id)
                try await Self.followUntilCaughtUp(h, second, id: id)
                second.shutdown()
                _ = try await again.value
            } else {
                try h.engine.wait(id)
                try await Self.followUntilCaughtUp(h, first, id: id)
                first.shutdown()
                _ = try await task.value
            }
        case .onceFromAFreshState:
            id = try h.run("seq 1 \(lines)", logOptions: options)
            try h.engine.wait(id)
            #expect(try await h.pipeline(counters: counters).run(mode: .once))
        }
        let shipped = h.sink.messages(of: id).filter { $0 != "ready" }.map { Int($0) ?? -1 }
        let onDisk = try h.onDisk(id).filter { $0 != "ready" }.map { Int($0) ?? -1 }
        let names = try FileManager.default.contentsOfDirectory(atPath: h.engine.directory(of: id)).filter {
            $0.contains("-json.log.")
        }
        #expect(!compress || names.contains { $0.hasSuffix(".gz") })
        // In order, each once; and everything still on disk.
        #expect(zip(shipped, shipped.dropFirst()).allSatisfy { $0 < $1 })
        let notShipped = Set(onDisk).subtracting(shipped)
        #expect(notShipped.isEmpty, "\(notShipped.count) lines on disk not shipped")
        let missing = Set(1...lines).subtracting(shipped)
        let missingBytes = missing.reduce(0) { $0 + Self.entryBytes(String($1)) }
        let report =
            "\(reader) compress=\(compress): \(shipped.count) of \(lines) shipped, \(onDisk.count) on disk, \(missing.count) missing (\(missingBytes) bytes); counted \(counters[.dockerRotationGaps]) gap(s), \(counters[.dockerBytesLost]) bytes; read \(counters[.recordsReadDocker]) records, \(counters[.filesRotatedFollowed]) files"
        print(report)
        if reader == .onceFromAFreshState {
            // A first start knows nothing of what went before: exactly what is on disk, no loss claimed.
            #expect(shipped == onDisk, "\(report)")
            #expect(counters[.dockerRotationGaps] == 0)
        } else {
            #expect((counters[.dockerRotationGaps] > 0) == !missing.isEmpty, "\(report)")
            let counted = counters[.dockerBytesLost]
            if reader == .restartedInTheMiddle {
                // What dockerd deleted while EdgeLog was stopped can only be estimated: from the entries' times and
                // the rate of what is known around the gap. dockerd writes in bursts, so the estimate is rough.
                #expect(counted >= missingBytes / 2 && counted <= missingBytes * 5 / 2, "\(report)")
            } else {
                // Files given up while held are counted exactly.
                #expect(abs(counted - missingBytes) <= missingBytes / 20 + 500, "\(report)")
            }
        }
    }
}
