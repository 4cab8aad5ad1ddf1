import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary over a real `systemd-journald` and a real `dockerd --log-driver journald` in a private mount
/// namespace: container lines (one over 16 KiB, so split by dockerd; an empty one; stderr) are shipped once each, in
/// order, as container records with the module's name, id, image, labels, stream and the journal's time, across a
/// restart of EdgeLog, while the journal section's host filters would have excluded every one of them.
@Suite(.serialized) struct JournaldDriverEndToEndTests {
    static func now() -> String {
        var out: [UInt8] = []
        Timestamp.appendRFC3339(microseconds: UInt64(Date().timeIntervalSince1970 * 1_000_000), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // Needs root (a mount namespace), util-linux's unshare, systemd-journald, dockerd and busybox-static.
    @Test(.enabled(if: JournaldNamespace.unavailableWithDockerReason == nil, "needs root, unshare, systemd-journald, dockerd and busybox-static"))
    func containerLinesThroughTheJournalShipOnceAcrossARestart() async throws {
        let ns = try await JournaldNamespace.start(withDocker: true)
        defer { ns.stop() }
        let dir = TemporaryDirectory()
        let out = dir.path + "/out"
        // Host filters no container entry passes (one identifier, errors only); docker.journal left at auto.
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(ns.containersDirectory)", "excludeSelf": false, "labels": ["com.example.*"]},
             "journal": {"enabled": true, "directory": "\(ns.journalDirectory)", "identifiers": ["aziot-edged"], "maxPriority": 3,
                         "readFrom": "beginning", "pollIntervalSeconds": 0.1},
             "batch": {"flushIntervalSeconds": 0.1},
             "metrics": {"enabled": false}, "sink": {"type": "file", "directory": "\(out)"}}
            """)
        let long = String(repeating: "y", count: 20000)
        let before = Self.now()
        let first = try ns.run(
            "echo first; echo to-stderr >&2; echo; awk 'BEGIN{s=\"\"; for(i=0;i<20000;i++) s=s \"y\"; print s}'; echo '<4>warned'; echo last-of-run-1",
            name: "tempSensor", extra: ["--label", "com.example.tier=edge", "--label", "other.label=x"])
        #expect(try ns.wait(first) == 0)
        let after = Self.now()
        try ns.send([("MESSAGE", "edged failed"), ("SYSLOG_IDENTIFIER", "aziot-edged"), ("PRIORITY", "3")])
        try ns.send([("MESSAGE", "noise"), ("SYSLOG_IDENTIFIER", "something-else"), ("PRIORITY", "3")])

        func shipped() throws -> [JSONValue] { (try? BinaryHarness.shipped(out)) ?? [] }
        func messages() throws -> [String] { try shipped().map { $0["Message"]?.stringValue ?? "<none>" } }

        var running = try BinaryHarness.start(["run", "--config", config])
        try await eventually("the first container's lines and the host entry") {
            let m = try messages()
            return m.contains("last-of-run-1") && m.contains("edged failed") && m.contains("to-stderr")
        }
        running.signal(SIGTERM)
        #expect(running.wait() == 0, "\(running.stderr)")

        let second = try ns.run("echo second-1; echo second-2", name: "tempSensor2")
        #expect(try ns.wait(second) == 0)
        running = try BinaryHarness.start(["run", "--config", config])
        try await eventually("the second container's lines") { try messages().contains("second-2") }
        running.signal(SIGTERM)
        #expect(running.wait() == 0, "\(running.stderr)")

        let records = try shipped()
        let fromFirst = records.filter { $0["ModuleId"]?.stringValue == "tempSensor" }
        let stdout = fromFirst.filter { $0["Stream"]?.stringValue == "stdout" }
        #expect(stdout.map { $0["Message"]?.stringValue ?? "<none>" } == ["first", "", long, "<4>warned", "last-of-run-1"])
        let stderr = fromFirst.filter { $0["Stream"]?.stringValue == "stderr" }
        #expect(stderr.map { $0["Message"]?.stringValue ?? "<none>" } == ["to-stderr"])
        #expect(stderr.first?["Level"]?.intValue == 3)
        #expect(stdout.map { $0["Level"]?.intValue ?? -1 } == [6, 6, 6, 4, 6])
        for r in fromFirst {
            #expect(r["Source"]?.stringValue == "docker")
            #expect(r["ContainerId"]?.stringValue == String(first.prefix(12)))
            #expect(r["ContainerImage"]?.stringValue == JournaldNamespace.image)
            #expect(r["Extra"]?["labels"]?["com.example.tier"]?.stringValue == "edge")
            #expect(r["Extra"]?["labels"]?["other.label"] == nil)
            let time = r["TimeGenerated"]?.stringValue ?? ""
            #expect(time >= before && time <= after, "\(time) outside \(before)…\(after)")
        }
        let times = stdout.map { $0["TimeGenerated"]?.stringValue ?? "" }
        #expect(times == times.sorted())
        let fromSecond = records.filter { $0["ModuleId"]?.stringValue == "tempSensor2" }
        #expect(fromSecond.map { $0["Message"]?.stringValue ?? "" } == ["second-1", "second-2"])
        #expect(fromSecond.first?["ContainerId"]?.stringValue == String(second.prefix(12)))
        // The host entries: the one the filters select, once; the other not at all. Nothing else was shipped
        // (journald's and dockerd's own entries are host entries the filters leave out).
        let host = records.filter { $0["Source"]?.stringValue == "journal" }
        #expect(host.map { $0["Message"]?.stringValue ?? "" } == ["edged failed"])
        #expect(records.count == fromFirst.count + fromSecond.count + host.count)
        #expect(records.count == 9)
    }

    /// `docker.journal` left at `auto` with the journal section off: once a container uses the journald driver, the
    /// journal is read for container lines only (from the oldest entry, as `docker.readFrom` says), host entries not.
    @Test(.enabled(if: JournaldNamespace.unavailableWithDockerReason == nil, "needs root, unshare, systemd-journald, dockerd and busybox-static"))
    func autoWithTheJournalSectionOffReadsContainerLinesOnly() async throws {
        let ns = try await JournaldNamespace.start(withDocker: true)
        defer { ns.stop() }
        let dir = TemporaryDirectory()
        let out = dir.path + "/out"
        try ns.send([("MESSAGE", "a host entry"), ("SYSLOG_IDENTIFIER", "aziot-edged"), ("PRIORITY", "3")])
        let id = try ns.run("echo one; echo two", name: "onlymodule")
        #expect(try ns.wait(id) == 0)
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(ns.containersDirectory)", "excludeSelf": false},
             "journal": {"enabled": false, "directory": "\(ns.journalDirectory)"},
             "metrics": {"enabled": false}, "sink": {"type": "file", "directory": "\(out)"}}
            """)
        let run = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        let shipped = try BinaryHarness.shipped(out)
        #expect(shipped.map { $0["Message"]?.stringValue ?? "" } == ["one", "two"])
        #expect(shipped.allSatisfy { $0["Source"]?.stringValue == "docker" && $0["ModuleId"]?.stringValue == "onlymodule" })
    }
}
