import EdgeLogCore
import EdgeLogTestKit
import EdgeLogTwin
import Synchronization

/// IoT Hub's side of the twin and direct methods, as a client of the test broker: answers twin GET
/// (`res/200` with desired + reported) and reported PATCH (`res/204`, merged into `reported`), pushes
/// desired patches with increasing `$version`, and calls methods.
final class HubPeer: Sendable {
    struct State {
        var desired: JSONValue = .object([("$version", .int(1))])
        var reported: JSONValue = .object([])
        var gets = 0
        var reportedPatches = 0
        var methodAnswers: [String: (Int, JSONValue)] = [:]
        /// Bytes of each method answer's payload as it arrived.
        var methodAnswerBytes: [String: Int] = [:]
        var nextRid = 1
        /// While set, twin GETs are counted and kept unanswered (edgeHub not there yet); `releaseGets` answers them.
        var holdGets = false
        var heldGets: [String] = []
    }
    final class Shared: Sendable { let state = Mutex(State()) }
    let shared: Shared

    let connection: MQTTConnection
    private let reader: Task<Void, Never>

    /// `shared`: the twin of an earlier peer (after a broker restart).
    init(port: Int, trust: [UInt8], shared: Shared = Shared()) async throws {
        self.shared = shared
        connection = try await MQTTConnection.connect(
            MQTTConnectOptions(host: "localhost", port: port, trustRootsPEM: trust, clientId: "iothub-peer", keepAliveSeconds: 30))
        _ = try await connection.subscribe([
            ("$iothub/twin/GET/#", 1), ("$iothub/twin/PATCH/properties/reported/#", 1), ("$iothub/methods/res/#", 1),
        ])
        let connection = self.connection
        let shared = self.shared
        reader = Task {
            for await m in connection.messages {
                let (path, query) = HubPeer.split(m.topic)
                let rid = query["$rid"] ?? ""
                if path.hasPrefix("$iothub/twin/GET") {
                    let doc = shared.state.withLock { s -> JSONValue? in
                        s.gets += 1
                        if s.holdGets {
                            s.heldGets.append(rid)
                            return nil
                        }
                        return .object([("desired", s.desired), ("reported", s.reported)])
                    }
                    guard let doc else { continue }
                    try? await connection.publish(topic: "$iothub/twin/res/200/?$rid=\(rid)", payload: Array(doc.serialized().utf8), qos: 1)
                } else if path.hasPrefix("$iothub/twin/PATCH/properties/reported") {
                    guard let patch = try? JSONParser.parse(m.payload) else {
                        try? await connection.publish(topic: "$iothub/twin/res/400/?$rid=\(rid)", payload: [], qos: 1)
                        continue
                    }
                    shared.state.withLock {
                        $0.reported = $0.reported.merging(patch: patch)
                        $0.reportedPatches += 1
                    }
                    try? await connection.publish(topic: "$iothub/twin/res/204/?$rid=\(rid)", payload: [], qos: 1)
                } else if path.hasPrefix("$iothub/methods/res/") {
                    let status = Int(path.dropFirst("$iothub/methods/res/".count).split(separator: "/").first ?? "") ?? 0
                    let payload = (try? JSONParser.parse(m.payload)) ?? .null
                    shared.state.withLock {
                        $0.methodAnswers[rid] = (status, payload)
                        $0.methodAnswerBytes[rid] = m.payload.count
                    }
                }
            }
        }
    }

    /// Keeps twin GETs unanswered from now on.
    func holdGets() { shared.state.withLock { $0.holdGets = true } }

    /// Twin GETs kept unanswered so far.
    var heldGets: Int { shared.state.withLock { $0.heldGets.count } }

    /// Answers the GETs kept so far, and every later one at once.
    func releaseGets() async throws {
        let (rids, doc) = shared.state.withLock { s -> ([String], JSONValue) in
            s.holdGets = false
            defer { s.heldGets = [] }
            return (s.heldGets, .object([("desired", s.desired), ("reported", s.reported)]))
        }
        for rid in rids {
            try await connection.publish(topic: "$iothub/twin/res/200/?$rid=\(rid)", payload: Array(doc.serialized().utf8), qos: 1)
        }
    }

    /// Merges `patch` into desired, bumps `$version` and publishes it (unless `publish` is false: a missed patch).
    @discardableResult
    func pushDesired(_ patch: JSONValue, publish: Bool = true) async throws -> Int64 {
        let (version, body) = shared.state.withLock { s -> (Int64, JSONValue) in
            let version = (s.desired["$version"]?.intValue ?? 1) + 1
            s.desired = s.desired.merging(patch: patch).merging(patch: .object([("$version", .int(version))]))
            return (version, patch.merging(patch: .object([("$version", .int(version))])))
        }
        if publish {
            try await connection.publish(
                topic: "$iothub/twin/PATCH/properties/desired/?$version=\(version)", payload: Array(body.serialized().utf8), qos: 1)
        }
        return version
    }

    /// Calls a direct method and waits for its answer.
    func call(_ name: String, _ payload: JSONValue = .object([])) async throws -> (status: Int, payload: JSONValue) {
        let answer = try await callMeasured(name, payload)
        return (answer.status, answer.payload)
    }

    /// `call`, with the answer's size on the wire.
    func callMeasured(_ name: String, _ payload: JSONValue = .object([])) async throws -> (
        status: Int, payload: JSONValue, bytes: Int
    ) {
        let rid = shared.state.withLock { s -> String in
            defer { s.nextRid += 1 }
            return "m\(s.nextRid)"
        }
        try await connection.publish(topic: "$iothub/methods/POST/\(name)/?$rid=\(rid)", payload: Array(payload.serialized().utf8), qos: 1)
        try await eventually("the answer to \(name)") { self.shared.state.withLock { $0.methodAnswers[rid] != nil } }
        return shared.state.withLock { ($0.methodAnswers[rid]!.0, $0.methodAnswers[rid]!.1, $0.methodAnswerBytes[rid] ?? 0) }
    }

    var reported: JSONValue { shared.state.withLock { $0.reported } }
    var gets: Int { shared.state.withLock { $0.gets } }

    func close() async {
        await connection.disconnect()
        reader.cancel()
    }

    static func split(_ topic: String) -> (String, [String: String]) {
        guard let q = topic.firstIndex(of: "?") else { return (topic, [:]) }
        var query: [String: String] = [:]
        for pair in topic[topic.index(after: q)...].split(separator: "&") {
            if let eq = pair.firstIndex(of: "=") { query[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) }
        }
        return (String(topic[..<q]), query)
    }
}
