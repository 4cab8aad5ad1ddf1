import EdgeLogCore
import Synchronization
import Testing

/// The filter facade a source calls per record: rules in order, each reason counted, rate limits on an injected
/// clock, summaries as records.
@Suite struct RecordFilterTests {
    /// A clock the test moves by hand.
    final class TestClock: Sendable {
        let now = Atomic<UInt64>(1_795_000_000 * 1_000_000_000)
        func advance(seconds: Double) { now.add(UInt64(seconds * 1e9), ordering: .relaxed) }
        var read: () -> UInt64 { { self.now.load(ordering: .relaxed) } }
    }

    func settings(_ json: String) throws -> Configuration {
        let (config, problems) = Configuration.parse(text: Array(json.utf8))
        try #require(problems.isEmpty, "\(problems)")
        return config
    }

    func verdict(
        _ filter: RecordFilter, _ kind: RecordKind, _ module: String, unit: String = "", level: Int = 6,
        _ message: String
    ) -> FilterVerdict {
        var message = message
        return message.withUTF8 { filter.evaluate(kind: kind, module: module, unit: unit, level: level, message: $0) }
    }

    @Test func theFirstMatchingRuleDecides() throws {
        let c = try settings(
            #"""
            {"filters": {"rules": [
              {"match": {"modules": ["edgeAgent"]}},
              {"match": {"modules": ["*", "!edgeHub"]}, "maxLevel": "warning", "drop": ["^heartbeat"],
               "keep": ["(?i)temperature", "error"]}
            ]}}
            """#)
        let filter = RecordFilter(filters: c.filters, redaction: RedactionSettings())
        // edgeAgent matches the first rule, which keeps everything.
        #expect(verdict(filter, .container, "edgeAgent", level: 7, "debug noise") == .keep)
        // Others (not edgeHub) follow the second: level first, then drop, then keep.
        #expect(verdict(filter, .container, "sensor", level: 6, "Temperature 97") == .drop(.level))
        #expect(verdict(filter, .container, "sensor", level: 4, "heartbeat: Temperature ok") == .drop(.drop))
        #expect(verdict(filter, .container, "sensor", level: 3, "disk is full") == .drop(.keep))
        #expect(verdict(filter, .container, "sensor", level: 3, "TEMPERATURE over limit") == .keep)
        #expect(verdict(filter, .container, "sensor", level: 0, "error: gone") == .keep)
        // edgeHub matches no rule: kept whatever it says.
        #expect(verdict(filter, .container, "edgeHub", level: 7, "heartbeat") == .keep)
        // Journal records are not container records: `modules` does not select them.
        #expect(verdict(filter, .journal, "sensor", level: 7, "heartbeat") == .keep)
        #expect(filter.tally.level == 1 && filter.tally.drop == 1 && filter.tally.keep == 1)
        let counters = Counters()
        filter.flush(to: counters)
        #expect(counters[.recordsFilteredLevel] == 1)
        #expect(counters[.recordsFilteredDrop] == 1)
        #expect(counters[.recordsFilteredKeep] == 1)
        #expect(counters[.recordsRateLimited] == 0)
        #expect(filter.tally == RecordFilter.Tally())
    }

    @Test func journalRulesMatchUnitsAndIdentifiers() throws {
        let c = try settings(
            #"""
            {"filters": {"rules": [
              {"match": {"units": ["docker", "aziot-*"]}, "maxLevel": 4},
              {"match": {"identifiers": ["kernel"]}, "maxLevel": 3}
            ]}}
            """#)
        let filter = RecordFilter(filters: c.filters, redaction: RedactionSettings())
        // "docker" means docker.service, as in journal.units.
        #expect(verdict(filter, .journal, "dockerd", unit: "docker.service", level: 6, "pull") == .drop(.level))
        #expect(verdict(filter, .journal, "dockerd", unit: "docker.socket", level: 6, "x") == .keep)
        #expect(verdict(filter, .journal, "aziot-edged", unit: "aziot-edged.service", level: 5, "x") == .drop(.level))
        #expect(verdict(filter, .journal, "aziot-edged", unit: "aziot-edged.service", level: 4, "x") == .keep)
        #expect(verdict(filter, .journal, "kernel", level: 4, "usb 1-1: new device") == .drop(.level))
        #expect(verdict(filter, .journal, "kernel", level: 3, "I/O error") == .keep)
        // A container named like a unit or identifier is not a journal record.
        #expect(verdict(filter, .container, "kernel", level: 7, "x") == .keep)
        #expect(filter.route(kind: .journal, module: "kernel").isFiltered)
        #expect(!filter.route(kind: .journal, module: "sshd", unit: "ssh.service").isFiltered)
    }

    @Test func rateLimitsDropTheExcessAndReportItOncePerInterval() throws {
        let c = try settings(
            #"""
            {"filters": {"rules": [{"match": {"modules": ["chatty*"]}, "rateLimit": {"linesPerSecond": 100, "burst": 10}}],
                         "rateLimitReportSeconds": 10}}
            """#)
        let clock = TestClock()
        let filter = RecordFilter(filters: c.filters, redaction: RedactionSettings(), nowNanos: clock.read)
        let route = filter.route(kind: .container, module: "chatty1")
        func send(_ n: Int, _ module: String = "chatty1") -> Int {
            var kept = 0
            var message = "line"
            for _ in 0..<n {
                let r = module == "chatty1" ? route : filter.route(kind: .container, module: module)
                if message.withUTF8({ filter.evaluate(r, level: 6, message: $0) }) == .keep { kept += 1 }
            }
            return kept
        }
        #expect(send(50) == 10)  // the burst
        clock.advance(seconds: 0.055)
        #expect(send(100) == 5)  // 5.5 lines' worth at 100 lines/s
        #expect(send(30, "chatty2") == 10)  // a module of its own
        #expect(send(5, "quiet") == 5)  // no rule
        #expect(filter.tally.rateLimited == 40 + 95 + 20)
        #expect(filter.dueSummaries().isEmpty)
        clock.advance(seconds: 10)
        let summaries = filter.dueSummaries()
        #expect(summaries.map(\.module) == ["chatty1", "chatty2"])
        #expect(summaries.map(\.dropped) == [135, 20])
        #expect(
            summaries[0].message
                == "rate limit: dropped 135 lines of module chatty1 in the last 10 s (filters.rules[0] lets 100 lines/s through, bursts of 10)")
        #expect(filter.dueSummaries().isEmpty)
        let counters = Counters()
        filter.flush(to: counters)
        #expect(counters[.recordsRateLimited] == 155)
    }

    @Test func onlyLinesTheRuleKeepsTakeTokens() throws {
        let c = try settings(
            #"{"filters": {"rules": [{"maxLevel": 4, "rateLimit": {"linesPerSecond": 1, "burst": 2}}]}}"#)
        let filter = RecordFilter(filters: c.filters, redaction: RedactionSettings(), nowNanos: TestClock().read)
        for _ in 0..<10 { #expect(verdict(filter, .container, "m", level: 6, "info") == .drop(.level)) }
        #expect(verdict(filter, .container, "m", level: 3, "e1") == .keep)
        #expect(verdict(filter, .container, "m", level: 3, "e2") == .keep)
        #expect(verdict(filter, .container, "m", level: 3, "e3") == .drop(.rateLimit))
    }

    @Test func disabledFiltersStillRedact() throws {
        let c = try settings(#"{"filters": {"enabled": false, "rules": [{"maxLevel": 0}]}}"#)
        let filter = RecordFilter(filters: c.filters, redaction: c.redaction)
        #expect(!filter.isPassThrough)
        #expect(verdict(filter, .container, "m", level: 7, "debug") == .keep)
        #expect(verdict(filter, .container, "m", level: 7, "SharedAccessKey=abc") == .keepRedacted)
        #expect(String(decoding: filter.redacted, as: UTF8.self) == "SharedAccessKey=<redacted>")
        // A kept record is redacted; a dropped one is not looked at.
        let strict = RecordFilter(
            filters: try settings(#"{"filters": {"rules": [{"maxLevel": 3}]}}"#).filters, redaction: c.redaction)
        #expect(verdict(strict, .container, "m", level: 6, "SharedAccessKey=abc") == .drop(.level))
        #expect(strict.tally.redacted == 0)
        #expect(RecordFilter(filters: FilterSettings(), redaction: RedactionSettings()).isPassThrough == false)
        var off = RedactionSettings()
        off.defaults = false
        #expect(RecordFilter(filters: FilterSettings(), redaction: off).isPassThrough)
    }
}
