import EdgeLogCore

/// The module twin conversation with IoT Hub (through edgeHub) as a pure state machine: feed it events,
/// carry out the actions it returns. After every (re)connect: subscribe, GET, apply, then process desired
/// patches in `$version` order; a gap in `$version` means a patch was missed, so GET again.
public struct TwinSession: Sendable {
    public static let subscriptions = ["$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#"]

    public enum Action: Sendable, Equatable {
        /// Publish (QoS 0) on a topic.
        case publish(topic: String, payload: [UInt8])
        /// The whole desired document (without `$version`/`$metadata`) at this version: validate and apply it.
        case apply(desired: JSONValue, version: Int64)
        /// The desired document at this version cannot even be looked at (over `maxDesiredMembers`): report it
        /// rejected with `problem`; the configuration in force stays.
        case reject(version: Int64, problem: String)
        /// A direct method call to answer with `TwinSession.methodResponse`.
        case method(name: String, rid: String, payload: [UInt8])
        /// IoT Hub answered a reported-properties patch.
        case reportAnswered(rid: String, status: Int)
        /// The twin GET failed; request it again later (after a backoff).
        case getFailed(status: Int)
        /// Something the log should say (never includes secrets).
        case warning(String)
    }

    /// Members (at every depth) a desired document may have. EdgeLog's whole configuration has about a hundred;
    /// a document beyond this is refused before it is validated or kept, so a huge one costs neither memory nor time.
    public static let maxDesiredMembers = 2000
    /// Desired patches kept while a twin GET is outstanding.
    public static let maxBufferedPatches = 64

    private var nextRid: UInt64 = 1
    /// The last desired document was over `maxDesiredMembers` and was not kept: the next patch cannot be merged
    /// into it, so the whole twin is asked for again.
    private var desiredDropped = false
    private var pendingGet: String?
    private var pendingReports: Set<String> = []
    private var buffered: [(version: Int64, patch: JSONValue)] = []
    /// The desired document as last applied (with `$` keys removed).
    public private(set) var desired: JSONValue = .object([])
    public private(set) var desiredVersion: Int64?

    public init() {}

    /// The `$rid` of the outstanding twin GET, if any (to repeat a GET that was never answered).
    public var outstandingGet: String? { pendingGet }
    /// Whether a twin GET is outstanding.
    public var awaitingTwin: Bool { pendingGet != nil }

    private mutating func rid() -> String {
        defer { nextRid += 1 }
        return String(nextRid, radix: 16)
    }

    /// After the subscriptions are acknowledged (on every connect): ask for the whole twin.
    public mutating func requestTwin() -> [Action] {
        let r = rid()
        pendingGet = r
        buffered = []
        return [.publish(topic: "$iothub/twin/GET/?$rid=\(r)", payload: [])]
    }

    /// A reported-properties patch: returns its `$rid` and the publish to send.
    public mutating func report(_ patch: JSONValue) -> (rid: String, action: Action) {
        let r = rid()
        pendingReports.insert(r)
        return (r, .publish(topic: "$iothub/twin/PATCH/properties/reported/?$rid=\(r)", payload: Array(patch.serialized().utf8)))
    }

    /// The answer to a direct method.
    public static func methodResponse(rid: String, status: Int, payload: JSONValue) -> Action {
        .publish(topic: "$iothub/methods/res/\(status)/?$rid=\(rid)", payload: Array(payload.serialized().utf8))
    }

    /// A message from edgeHub.
    public mutating func received(topic: String, payload: [UInt8]) -> [Action] {
        let (path, query) = Self.split(topic)
        if path.hasPrefix("$iothub/twin/res/") {
            guard let status = Int(path.dropFirst("$iothub/twin/res/".count).split(separator: "/").first ?? "") else {
                return [.warning("twin response on an unexpected topic \(topic)")]
            }
            let r = query["$rid"] ?? ""
            if r == pendingGet {
                pendingGet = nil
                guard status == 200 else { return [.getFailed(status: status)] }
                guard let doc = try? JSONParser.parse(payload), let d = doc["desired"], case .object = d else {
                    return [.warning("the twin GET answer is not a twin document"), .getFailed(status: status)]
                }
                let version = d["$version"]?.intValue ?? 0
                desired = Self.withoutMetadata(d)
                desiredVersion = version
                var actions = [checked(version: version)]
                let queued = buffered.sorted { $0.version < $1.version }
                buffered = []
                for (v, patch) in queued { actions += applyPatch(version: v, patch: patch) }
                return actions
            }
            if pendingReports.remove(r) != nil { return [.reportAnswered(rid: r, status: status)] }
            return []
        }
        if path.hasPrefix("$iothub/twin/PATCH/properties/desired") {
            guard let patch = try? JSONParser.parse(payload), case .object = patch else {
                return [.warning("a desired-properties patch is not a JSON object; getting the whole twin again")] + requestTwin()
            }
            guard let version = patch["$version"]?.intValue ?? query["$version"].flatMap({ Int64($0) }) else {
                return [.warning("a desired-properties patch has no $version; getting the whole twin again")] + requestTwin()
            }
            if pendingGet != nil {
                // Kept until the GET's answer; a flood of them is not kept: the GET is asked again instead.
                guard buffered.count < Self.maxBufferedPatches else { return requestTwin() }
                buffered.append((version, patch))
                return []
            }
            return applyPatch(version: version, patch: patch)
        }
        if path.hasPrefix("$iothub/methods/POST/") {
            let name = String(path.dropFirst("$iothub/methods/POST/".count).split(separator: "/").first ?? "")
            guard let r = query["$rid"] else { return [.warning("method call \(name) without $rid ignored")] }
            return [.method(name: name, rid: r, payload: payload)]
        }
        return [.warning("message on an unexpected topic \(topic) ignored")]
    }

    private mutating func applyPatch(version: Int64, patch: JSONValue) -> [Action] {
        guard let current = desiredVersion else { return requestTwin() }
        if version <= current { return [] }  // already in the document the GET returned
        if version != current + 1 {
            return [.warning("desired $version went from \(current) to \(version): a patch was missed; getting the whole twin again")]
                + requestTwin()
        }
        if desiredDropped {
            // The document this patch applies to was not kept.
            return requestTwin()
        }
        desired = desired.merging(patch: Self.withoutMetadata(patch))
        desiredVersion = version
        return [checked(version: version)]
    }

    /// `.apply` for the document now held, or `.reject` (and the document dropped) if it is over the limit.
    private mutating func checked(version: Int64) -> Action {
        let members = desired.memberCount
        guard members <= Self.maxDesiredMembers else {
            desired = .object([])
            desiredDropped = true
            return .reject(
                version: version,
                problem: "the desired properties have \(members) members (keys and list elements at every depth), over the \(Self.maxDesiredMembers) EdgeLog accepts")
        }
        desiredDropped = false
        return .apply(desired: desired, version: version)
    }

    /// Removes `$version`, `$metadata` and any other `$` member at the top level.
    public static func withoutMetadata(_ doc: JSONValue) -> JSONValue {
        guard case .object(let members) = doc else { return doc }
        return .object(members.filter { !$0.0.hasPrefix("$") })
    }

    /// `a/b/?$rid=1&$version=2` → (`a/b/`, [$rid: 1, $version: 2])
    static func split(_ topic: String) -> (String, [String: String]) {
        guard let q = topic.firstIndex(of: "?") else { return (topic, [:]) }
        var query: [String: String] = [:]
        for pair in topic[topic.index(after: q)...].split(separator: "&") {
            if let eq = pair.firstIndex(of: "=") {
                query[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
        }
        return (String(topic[..<q]), query)
    }
}
