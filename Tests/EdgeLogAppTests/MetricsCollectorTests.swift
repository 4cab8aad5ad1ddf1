import EdgeLogCore
import EdgeLogTestKit
import Logging
import Testing

@testable import EdgeLogApp

@Suite struct MetricsCollectorTests {
    @Test func theCursorsRealtimeIsTheSample() throws {
        // A cursor as sd-journal writes it: t= is the entry's realtime in hex microseconds.
        let cursor =
            "s=8b0c2b0ea9c54b7f8a7e3a7b2cbe0c11;i=1f4;b=0c4d1e0a6b0c4a5c9b2f2f0d4f8e9a11;m=2a3b4c;t=5f2a1b3c4d5e6;x=9a8b7c6d5e4f3a2b"
        let positions: [String: SourcePosition] = [
            "journal": .cursor(cursor),
            "docker/abc": .file(
                FilePosition(path: "/x", device: 1, inode: 2, fingerprint: 3, fingerprintLength: 4, offset: 5)),
        ]
        let samples = MetricsCollector.journalCommitted(positions)
        #expect(samples.count == 1)
        #expect(samples.first?.labels.map { "\($0.0)=\($0.1)" } == ["source=journal"])
        let micros = try #require(UInt64("5f2a1b3c4d5e6", radix: 16))
        #expect(samples.first?.value == Double(micros / 1000) / 1000)
        #expect(MetricsCollector.journalCommitted(["docker/abc": positions["docker/abc"]!]).isEmpty)
        #expect(MetricsCollector.journalCommitted(["journal": .cursor("s=1;i=2")]).isEmpty)
    }

    @Test func filteredRecordsAndRedactionsAreCountedByReason() throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.stateDirectory = dir.path
        let supervisor = Supervisor(configuration: config, environment: [:], logger: Logger(label: "t"))
        let collector = MetricsCollector(
            supervisor: supervisor, counters: supervisor.counters, twin: nil, host: HostIdentity(computer: "t"))
        for (name, amount) in [
            (Counters.Name.recordsFilteredLevel, 5), (.recordsFilteredDrop, 4), (.recordsFilteredKeep, 3),
            (.recordsRateLimited, 2), (.messagesRedacted, 1),
        ] {
            supervisor.counters.add(name, amount)
        }
        let families = collector.snapshot().families
        func values(_ name: String) -> [String] {
            (families.first { $0.name == name }?.samples ?? []).map { s in
                s.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + " \(Int(s.value))"
            }
        }
        #expect(values("edgelog_records_filtered_total") == [
            "reason=level 5", "reason=drop 4", "reason=keep 3", "reason=rate_limit 2",
        ])
        #expect(values("edgelog_messages_redacted_total") == [" 1"])
    }
}

