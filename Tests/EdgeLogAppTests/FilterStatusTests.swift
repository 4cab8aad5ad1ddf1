import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The `filters`, `redaction` and `records` sections of a config file, applied by the real binary, and what
/// `edgelog status` says of them afterwards.
@Suite struct FilterStatusTests {
    @Test func theBinaryAppliesTheSectionsAndStatusCountsTheDropsByReason() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let c = try DockerContainerFixture(root: root, name: "sensor")
        try c.log(["<6> reading 1", "<4> overheating", "Heartbeat", "key SharedAccessKey=s3cr3tValue", "<6> reading 2"])
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state", "sink": {"type": "file", "directory": "\(dir.path)/out"},
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "filters": {"rules": [{"match": {"modules": ["sensor"]}, "drop": ["^Heartbeat"],
                                    "keep": ["overheating|key"]}]},
             "records": {"columns": ["TimeGenerated", "ModuleId", "ContainerId", "Message"]}}
            """)
        let run = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        let shipped = try BinaryHarness.shipped(dir.path + "/out")
        #expect(shipped.map { $0["Message"]!.stringValue! } == ["<4> overheating", "key SharedAccessKey=<redacted>"])
        #expect(shipped.allSatisfy { $0.objectValue?.map(\.0) == ["TimeGenerated", "ModuleId", "ContainerId", "Message"] })
        #expect(shipped.first?["ContainerId"]?.stringValue == String(c.id.prefix(12)))
        let status = try JSONParser.parse(Array(try BinaryHarness.run(["status", "--config", config]).stdout.utf8))
        let filtered = try #require(status["filtered"])
        #expect(filtered["drop"]?.intValue == 1)
        #expect(filtered["keep"]?.intValue == 2)
        #expect(filtered["level"]?.intValue == 0)
        #expect(filtered["rateLimit"]?.intValue == 0)
        #expect(filtered["redactedMessages"]?.intValue == 1)
    }
}
