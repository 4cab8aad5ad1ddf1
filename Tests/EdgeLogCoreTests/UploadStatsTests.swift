import EdgeLogCore
import Testing

@Suite struct UploadStatsTests {
    @Test func callsByOutcomeAndLatency() {
        let stats = UploadStats()
        stats.record(.status(204), seconds: 0.02)
        stats.record(.status(204), seconds: 0.3)
        stats.record(.status(429), seconds: 0.04)
        stats.record(.timeout, seconds: 30)
        stats.record(.connectionError, seconds: 0.001)
        stats.record(.status(503), seconds: 90)
        let s = stats.snapshot()
        #expect(
            s.calls.map { "\($0.0.label)=\($0.1)" } == ["204=2", "429=1", "503=1", "timeout=1", "connection_error=1"])
        #expect(s.latency.count == 6)
        #expect(s.latency.bounds == UploadStats.bounds)
        // 0.001 and 0.02 in the first bucket (≤ 0.025), 0.04 in ≤ 0.05, 0.3 in ≤ 0.5, 30 in ≤ 30, 90 above all.
        var expected = Array(repeating: 0, count: UploadStats.bounds.count + 1)
        expected[0] = 2
        expected[1] = 1
        expected[UploadStats.bounds.firstIndex(of: 0.5)!] = 1
        expected[UploadStats.bounds.firstIndex(of: 30)!] = 1
        expected[UploadStats.bounds.count] = 1
        #expect(s.latency.counts == expected)
        #expect(abs(s.latency.sum - 120.361) < 1e-9)
    }
}
