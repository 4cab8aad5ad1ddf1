import EdgeLogCore
import Testing
@testable import EdgeLogTwin

@Suite struct TwinSessionTests {
    func json(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func getThenPatchesInOrder() throws {
        var s = TwinSession()
        #expect(s.requestTwin() == [.publish(topic: "$iothub/twin/GET/?$rid=1", payload: [])])
        // A patch arriving while the GET is outstanding waits for it.
        #expect(s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=4", payload: json(#"{"batch":{"maxBytes":2000},"$version":4}"#)).isEmpty)
        let actions = s.received(
            topic: "$iothub/twin/res/200/?$rid=1",
            payload: json(#"{"desired":{"batch":{"flushIntervalSeconds":2},"$version":3,"$metadata":{}},"reported":{"$version":1}}"#))
        #expect(actions.count == 2)
        #expect(actions[0] == .apply(desired: try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":2}}"#), version: 3))
        #expect(actions[1] == .apply(desired: try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":2,"maxBytes":2000}}"#), version: 4))
        // null removes a key.
        let removed = s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=5", payload: json(#"{"batch":{"flushIntervalSeconds":null},"$version":5}"#))
        #expect(removed == [.apply(desired: try JSONParser.parse(#"{"batch":{"maxBytes":2000}}"#), version: 5)])
        // A stale patch is ignored.
        #expect(s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=5", payload: json(#"{"$version":5}"#)).isEmpty)
    }

    @Test func versionGapGetsTheTwinAgain() {
        var s = TwinSession()
        _ = s.requestTwin()
        _ = s.received(topic: "$iothub/twin/res/200/?$rid=1", payload: json(#"{"desired":{"$version":2}}"#))
        let actions = s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=4", payload: json(#"{"a":1,"$version":4}"#))
        #expect(actions.contains(.publish(topic: "$iothub/twin/GET/?$rid=2", payload: [])))
        #expect(s.awaitingTwin)
    }

    @Test func failedGetAndReports() {
        var s = TwinSession()
        _ = s.requestTwin()
        #expect(s.received(topic: "$iothub/twin/res/500/?$rid=1", payload: []) == [.getFailed(status: 500)])
        let (rid, action) = s.report(.object([("version", .string("1"))]))
        #expect(action == .publish(topic: "$iothub/twin/PATCH/properties/reported/?$rid=\(rid)", payload: json(#"{"version":"1"}"#)))
        #expect(s.received(topic: "$iothub/twin/res/204/?$rid=\(rid)", payload: []) == [.reportAnswered(rid: rid, status: 204)])
        #expect(s.received(topic: "$iothub/twin/res/204/?$rid=\(rid)&$version=3", payload: []).isEmpty)
    }

    @Test func methods() {
        var s = TwinSession()
        #expect(s.received(topic: "$iothub/methods/POST/getStatus/?$rid=a1", payload: json("{}")) == [.method(name: "getStatus", rid: "a1", payload: json("{}"))])
        #expect(TwinSession.methodResponse(rid: "a1", status: 404, payload: .object([])) == .publish(topic: "$iothub/methods/res/404/?$rid=a1", payload: json("{}")))
    }

    @Test func garbageIsAWarningNotACrash() {
        var s = TwinSession()
        _ = s.requestTwin()
        let a = s.received(topic: "$iothub/twin/res/200/?$rid=1", payload: json("not json"))
        #expect(a.contains(.getFailed(status: 200)))
        #expect(s.received(topic: "elsewhere", payload: []).count == 1)
    }
}
