import EdgeLogApp
import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary with damaged state files: `status` reports, `run` heals and delivers; neither traps.
@Suite(.serialized) struct DamagedStateTests {
    func setUp() throws -> (TemporaryDirectory, config: String, state: String, container: DockerContainerFixture) {
        let dir = TemporaryDirectory()
        let state = dir.path + "/state"
        try FileSystem.makeDirectories(state)
        let root = try dir.makeDirectory("containers")
        let container = try DockerContainerFixture(root: root, name: "module")
        try container.log(["hello", "world"])
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(state)", "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "metrics": {"enabled": false}, "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        return (dir, config, state, container)
    }

    @Test func aNegativeLastSequenceNeitherTrapsStatusNorRun() throws {
        let (dir, config, state, _) = try setUp()
        try FileSystem.writeAtomically(
            Array(#"{"version": 1, "lastSequence": -1, "sources": {}, "counters": {}}"#.utf8), to: state + "/checkpoints.json")
        let status = try BinaryHarness.run(["status", "--config", config])
        #expect(status.status == 0, "\(status.stderr)")
        let report = try JSONParser.parse(status.stdout)
        #expect(report["checkpointFile"]?["state"]?.stringValue == "damaged")
        #expect(report["checkpointFile"]?["reason"]?.stringValue?.contains("lastSequence -1") == true)
        // status only reads: the file is where it was.
        #expect(try FileSystem.read(state + "/checkpoints.json") != nil)

        let run = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("lastSequence -1"))
        #expect(try BinaryHarness.shipped(dir.path + "/out").map { $0["Message"]?.stringValue } == ["hello", "world"])

        let after = try JSONParser.parse(try BinaryHarness.run(["status", "--config", config]).stdout)
        #expect(after["checkpointFile"]?["state"]?.stringValue == "ok")
        #expect(after["lastReset"]?["reason"]?.stringValue?.contains("lastSequence -1") == true)
        #expect(after["lastReset"]?["setAside"]?.stringValue?.hasPrefix(state + "/checkpoints.json.damaged-") == true)
        #expect(after["counters"]?["checkpointResets"]?.intValue == 1)
    }

    @Test func garbageInEveryStateFileIsSurvived() throws {
        let (dir, config, state, _) = try setUp()
        try FileSystem.writeAtomically((0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 131) }, to: state + "/checkpoints.json")
        try FileSystem.writeAtomically(Array(#"{"version": 1, "files": {"/x": {"lastRotated": -9223372036854775808}}}"#.utf8), to: state + "/rotation-state.json")
        try FileSystem.makeDirectories(state + "/spool")
        try FileSystem.writeAtomically([0x1F, 0x8B, 8, 0, 1, 2, 3], to: state + "/spool/18446744073709551615-1-1.ndjson.gz")
        try FileSystem.makeDirectories(state + "/deadletter")
        try FileSystem.writeAtomically([1, 2, 3], to: state + "/deadletter/00000000000000000003-1000-2.ndjson.gz")
        try FileSystem.writeAtomically(
            Array(#"{"deadLetteredAtMillis": 9223372036854775807, "reason": 7}"#.utf8),
            to: state + "/deadletter/00000000000000000003-1000-2.ndjson.gz.json")
        let status = try BinaryHarness.run(["status", "--config", config])
        #expect(status.status == 0, "\(status.stderr)")
        let list = try BinaryHarness.run(["deadletter", "list", "--config", config])
        #expect(list.status == 0, "\(list.stderr)")
        let run = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try BinaryHarness.shipped(dir.path + "/out").map { $0["Message"]?.stringValue } == ["hello", "world"])
        // New batches are numbered above the dead letter's sequence.
        #expect(try FileSystem.list(dir.path + "/out")?.allSatisfy { $0 > FileSinkName.of(3) } == true)
    }
}

enum FileSinkName {
    static func of(_ sequence: UInt64) -> String { FileSink.fileName(sequence: sequence) }
}
