import EdgeLogCore
import Testing

@testable import EdgeLogTwin

/// The desired document's size limit and the merge that patches go through.
@Suite struct TwinSessionLimitsTests {
    func json(_ s: String) -> [UInt8] { Array(s.utf8) }

    func keys(_ n: Int, prefix: String = "k", value: JSONValue = .int(1)) -> JSONValue {
        .object((0..<n).map { ("\(prefix)\($0)", value) })
    }

    @Test func aDocumentOverTheLimitIsRejectedAndNotKept() throws {
        var s = TwinSession()
        _ = s.requestTwin()
        let big = JSONValue.object([("junk", keys(TwinSession.maxDesiredMembers)), ("$version", .int(3))])
        let actions = s.received(
            topic: "$iothub/twin/res/200/?$rid=1", payload: json(#"{"desired":\#(big.serialized())}"#))
        guard case .reject(let version, let problem)? = actions.first else {
            Issue.record("expected a rejection, got \(actions)")
            return
        }
        #expect(version == 3)
        #expect(problem.contains("\(TwinSession.maxDesiredMembers + 1) members"))
        #expect(s.desired == .object([]), "the document is not kept")
        // The next patch cannot be merged into a document that was not kept: the whole twin is asked for.
        let next = s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=4", payload: json(#"{"junk":null,"$version":4}"#))
        #expect(next == [.publish(topic: "$iothub/twin/GET/?$rid=2", payload: [])])
        let small = s.received(topic: "$iothub/twin/res/200/?$rid=2", payload: json(#"{"desired":{"batch":{"maxBytes":2000},"$version":4}}"#))
        #expect(small == [.apply(desired: try JSONParser.parse(#"{"batch":{"maxBytes":2000}}"#), version: 4)])
    }

    @Test func aPatchThatMakesTheDocumentTooLargeIsRejected() throws {
        var s = TwinSession()
        _ = s.requestTwin()
        _ = s.received(topic: "$iothub/twin/res/200/?$rid=1", payload: json(#"{"desired":{"$version":1}}"#))
        let patch = JSONValue.object([("junk", keys(3000)), ("$version", .int(2))])
        let actions = s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=2", payload: Array(patch.serialized().utf8))
        #expect(actions.count == 1)
        if case .reject(2, _)? = actions.first {} else { Issue.record("expected a rejection of version 2, got \(actions)") }
    }

    @Test func patchesWhileAGetIsOutstandingAreBounded() {
        var s = TwinSession()
        _ = s.requestTwin()
        for v in 2..<(2 + TwinSession.maxBufferedPatches) {
            #expect(s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=\(v)", payload: json(#"{"a":1,"$version":\#(v)}"#)).isEmpty)
        }
        // One more: the GET is asked for again instead of keeping more.
        let v = 2 + TwinSession.maxBufferedPatches
        let actions = s.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=\(v)", payload: json(#"{"a":1,"$version":\#(v)}"#))
        #expect(actions == [.publish(topic: "$iothub/twin/GET/?$rid=2", payload: [])])
    }

    @Test func theMergeFollowsRFC7396() throws {
        let base = try JSONParser.parse(#"{"a":1,"b":{"c":2,"d":3},"e":[1,2],"a":5}"#)
        let patch = try JSONParser.parse(#"{"b":{"c":null,"f":{"g":null,"h":4}},"e":{"x":1},"i":null,"j":7}"#)
        // A member given twice counts once (first position, last value); null removes; nulls inside a new member go.
        #expect(base.merging(patch: patch) == (try JSONParser.parse(#"{"a":5,"b":{"d":3,"f":{"h":4}},"e":{"x":1},"j":7}"#)))
        #expect(base.merging(patch: .int(3)) == .int(3))
        // Tens of thousands of members merge member by member (this was a search per member).
        let many = keys(30_000)
        let merged = many.merging(patch: keys(30_000, value: .null)).merging(patch: keys(30_000, prefix: "m"))
        #expect(merged == keys(30_000, prefix: "m"))
        #expect(merged.memberCount == 30_000)
    }
}
