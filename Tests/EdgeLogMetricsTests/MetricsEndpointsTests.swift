import EdgeLogMetrics
import Synchronization
import Testing

@Suite struct MetricsEndpointsTests {
    final class Problems: Sendable {
        let list = Mutex<[String]>([])
    }

    func endpoints(_ problems: Problems) -> MetricsEndpoints {
        MetricsEndpoints(
            metricsPath: "/metrics", metrics: { Array("m 1\n".utf8) }, health: { problems.list.withLock { $0 } })
    }

    @Test func routes() {
        let problems = Problems()
        let e = endpoints(problems)
        let metrics = e.answer(method: "GET", uri: "/metrics?x=1")
        #expect(metrics.status == 200)
        #expect(metrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text == "m 1\n")
        #expect(e.answer(method: "GET", uri: "/healthz") == .init(status: 200, body: "ok\n"))
        problems.list.withLock { $0 = ["the spool is full", "the journal source stopped"] }
        let sick = e.answer(method: "GET", uri: "/healthz")
        #expect(sick.status == 503)
        #expect(sick.text == "the spool is full\nthe journal source stopped\n")
        #expect(e.answer(method: "GET", uri: "/").status == 404)
        #expect(e.answer(method: "GET", uri: "/metrics/x").status == 404)
        let post = e.answer(method: "POST", uri: "/metrics")
        #expect(post.status == 405)
        #expect(post.allow == "GET")
        #expect(e.answer(method: "HEAD", uri: "/healthz").status == 405)
        #expect(e.answer(method: "DELETE", uri: "/nowhere").status == 404)
    }
}
