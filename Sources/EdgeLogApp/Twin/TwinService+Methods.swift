import EdgeLogCore

/// Direct methods: `getStatus`, `rotateNow`, `flush` and `getRecentLogs`.
extension TwinService {
    /// Answers a direct method: (status, payload).
    func method(name: String, payload: [UInt8]) async -> (Int, JSONValue) {
        guard payload.count <= 128 * 1024 else { return (413, message("the payload exceeds 128 KB")) }
        let request = (try? JSONParser.parse(payload)) ?? .null
        logger.info("module twin: direct method \(name)")
        switch name {
        case "getStatus":
            return (200, TwinHealth.document(supervisor: supervisor))
        case "flush":
            guard let pipeline = supervisor.pipeline else { return (503, message("the pipeline is not running")) }
            await pipeline.flush()
            return (200, .object([("flushed", .bool(true)), ("spoolBatches", .int(Int64(pipeline.spool.snapshot.count)))]))
        case "rotateNow":
            guard rotateNow != nil else {
                return (501, message("rotateNow is not available in this build: no rotation hook is installed"))
            }
            if let refusal = admitRotation() { return (429, refusal) }
            return await runAdmittedRotation(payload)
        case "getRecentLogs":
            let n = max(1, min(1000, Int(request["lines"]?.intValue ?? request["n"]?.intValue ?? 100)))
            return (200, Self.recentLogsAnswer(recentLogs(n), limit: settings.maxMethodAnswerBytes))
        default:
            return (404, message("unknown method \(name); EdgeLog answers getStatus, rotateNow, flush and getRecentLogs"))
        }
    }

    private func message(_ text: String) -> JSONValue { .object([("message", .string(text))]) }

    /// `rotateNow` admission: nil (admitted: the pass is now under way) or the 429 answer. One pass at a time,
    /// and `rotateNowMinimumInterval` from the end of one to the start of the next.
    func admitRotation() -> JSONValue? {
        let interval = settings.rotateNowMinimumInterval
        let refusal = stats.withLock { s -> JSONValue? in
            if s.rotating {
                return message("a rotateNow pass is under way; one pass runs at a time")
            }
            if let end = s.lastRotationEnd {
                let wait = end + interval - clock.now()
                if wait > .zero {
                    let seconds = wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0)
                    return .object([
                        ("message", .string("the last rotateNow pass ended less than \(Supervisor.seconds(interval)) s ago; try again in \(seconds) s")),
                        ("retryAfterSeconds", .int(seconds)),
                    ])
                }
            }
            s.rotating = true
            return nil
        }
        if let refusal { logger.warning("module twin: rotateNow refused: \(refusal["message"]?.stringValue ?? "")") }
        return refusal
    }

    /// Runs a pass `admitRotation` admitted and ends it (the interval counts from a pass that ran).
    func runAdmittedRotation(_ payload: [UInt8]) async -> (Int, JSONValue) {
        guard let rotateNow else {
            stats.withLock { $0.rotating = false }
            return (501, message("rotateNow is not available in this build: no rotation hook is installed"))
        }
        let request = (try? JSONParser.parse(payload)) ?? .null
        let paths = request["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
        do {
            let report = try await rotateNow(paths)
            stats.withLock {
                $0.rotating = false
                $0.lastRotationEnd = clock.now()
            }
            return (200, report)
        } catch {
            // Refused before rotating anything (paths not managed): no pass ran, no interval to keep.
            stats.withLock { $0.rotating = false }
            return (500, message("rotation failed: \(error)"))
        }
    }

    /// `{"lines": [...]}` with the oldest lines left out until the answer, as sent (JSON escapes included:
    /// a control character takes six bytes), is at most `limit` bytes.
    static func recentLogsAnswer(_ lines: [String], limit: Int) -> JSONValue {
        let sizes = lines.map { JSONValue.string($0).serialized().utf8.count }
        let wrapper = JSONValue.object([("lines", .array([]))]).serialized().utf8.count
        var total = wrapper + sizes.reduce(0, +) + max(0, lines.count - 1)
        var first = 0
        while total > limit && first < lines.count {
            total -= sizes[first] + (lines.count - first > 1 ? 1 : 0)
            first += 1
        }
        var answer = JSONValue.object([("lines", .array(lines[first...].map { .string($0) }))])
        // The sum above is exact for the compact form; should the writer ever differ, drop more.
        while answer.serialized().utf8.count > limit, case .array(let kept)? = answer["lines"], !kept.isEmpty {
            answer = .object([("lines", .array(Array(kept.dropFirst())))])
        }
        return answer
    }
}
