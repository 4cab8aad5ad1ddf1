import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary over containers of every logging driver: `run --once` ships the json-file and `local` ones,
/// `status` lists the others and shows the `local` container's backlog.
@Suite struct LogDriverEndToEndTests {
    @Test func runShipsJSONFileAndLocalAndStatusListsTheOthers() throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let json = try DockerContainerFixture(root: root, name: "jsonmodule")
        try json.log(["json one", "json two"])
        let local = try LocalContainerFixture(root: root, name: "localmodule")
        try local.log(0..<3) { "local \($0)" }
        _ = try LocalContainerFixture(root: root, name: "syslogmodule", driver: "syslog")
        _ = try LocalContainerFixture(root: root, name: "journalmodule", driver: "journald")
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state", "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "metrics": {"enabled": false}, "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        let before = try BinaryHarness.run(["status", "--config", config])
        #expect(before.status == 0, "\(before.stderr)")
        let unread = try JSONParser.parse(before.stdout)["dockerContainersNotReadFromFiles"]?.arrayValue ?? []
        let listed = unread.map {
            "\($0["container"]?.stringValue ?? "") \($0["driver"]?.stringValue ?? "") \($0["collected"]?.stringValue ?? "")"
        }
        #expect(Set(listed) == ["syslogmodule syslog no", "journalmodule journald through the journal"])

        let run = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("syslog logging driver"))
        let shipped = try BinaryHarness.shipped(dir.path + "/out").map {
            "\($0["ModuleId"]?.stringValue ?? "") \($0["Message"]?.stringValue ?? "")"
        }
        #expect(
            Set(shipped) == [
                "jsonmodule json one", "jsonmodule json two", "localmodule local 0", "localmodule local 1",
                "localmodule local 2",
            ])
        #expect(shipped.count == 5)

        try local.log(3..<5) { "local \($0)" }
        let after = try JSONParser.parse(try BinaryHarness.run(["status", "--config", config]).stdout)
        let position = after["checkpoints"]?["docker/" + local.id]
        #expect(position?["path"]?.stringValue == local.logPath)
        // Two entries written since the run: their bytes are the backlog.
        let written = LocalLogEncoding.entry(Array("local 3".utf8), timeNanos: LocalContainerFixture.time(3)).count * 2
        #expect(position?["behindBytes"]?.intValue == Int64(written))
    }
}
