import EdgeLogCore
import Testing

@testable import EdgeLogApp

@Suite struct HealthRulesTests {
    let now: Int64 = 1_800_000_000_000

    @Test func healthyWhenNothingIsWrong() {
        #expect(HealthRules.problems(.init(pipelineRunning: true, nowMillis: now)).isEmpty)
        // Failing, but nothing waits: nothing is being lost.
        var idle = HealthRules.Inputs(pipelineRunning: true, nowMillis: now)
        idle.sink = SinkDriver.Progress(failingSinceMillis: now - 3_600_000, lastError: "HTTP 503")
        #expect(HealthRules.problems(idle).isEmpty)
    }

    @Test func noPipeline() {
        #expect(
            HealthRules.problems(.init(pipelineRunning: false, nowMillis: now)) == [
                "the pipeline is not running (starting, or restarting with a new configuration)"
            ])
    }

    @Test func aStoppedSource() {
        var i = HealthRules.Inputs(pipelineRunning: true, nowMillis: now)
        i.stoppedSources = [("journal", "cannot open /var/log/journal: permission denied\nmore")]
        #expect(
            HealthRules.problems(i) == ["the journal source stopped: cannot open /var/log/journal: permission denied"])
    }

    @Test func theSinkFailingPastTheThresholdWithDataSpooled() {
        var i = HealthRules.Inputs(pipelineRunning: true, nowMillis: now)
        i.sinkType = "logsIngestion"
        i.sinkFailureSeconds = 600
        i.spool = SpoolDepth(batches: 3, records: 300, bytes: 30_000, oldestCreatedMillis: now - 700_000)
        i.sink = SinkDriver.Progress(failingSinceMillis: now - 599_000, lastError: "HTTP 503 ServiceUnavailable")
        #expect(HealthRules.problems(i).isEmpty, "under the threshold")
        i.sink.failingSinceMillis = now - 601_000
        #expect(
            HealthRules.problems(i) == [
                "the logsIngestion sink has failed every attempt for 601 s (metrics.sinkFailureSeconds is 600) with 3 batch(es) spooled; last error: HTTP 503 ServiceUnavailable"
            ])
        // Everything refused for good: the spool is empty, but batches went to the dead-letter folder.
        i.spool = SpoolDepth()
        i.sink.deadLettersWhileFailing = 4
        #expect(HealthRules.problems(i).first?.contains("failed every attempt for 601 s") == true)
        #expect(HealthRules.problems(i).first?.contains("4 dead-lettered meanwhile") == true)
    }

    @Test func theSpoolNearlyFull() {
        var i = HealthRules.Inputs(pipelineRunning: true, nowMillis: now)
        i.spoolMaxBytes = 1000
        i.spool = SpoolDepth(batches: 9, records: 90, bytes: 900, oldestCreatedMillis: now)
        #expect(HealthRules.problems(i).isEmpty, "90 % is the limit")
        i.spool.bytes = 901
        #expect(
            HealthRules.problems(i) == [
                "the spool holds 901 bytes, 90.1 % of spool.maxBytes (1000); the oldest batches are dropped next"
            ])
    }
}
