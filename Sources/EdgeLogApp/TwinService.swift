import EdgeLogCore
import EdgeLogTwin
import Logging
import ServiceLifecycle
import Synchronization

/// Connection settings of the twin client. The report interval is the configuration's
/// `twin.reportIntervalSeconds` (it follows desired properties); `EDGELOG_TWIN_REPORT_INTERVAL_SECONDS`, for
/// development, overrides it. `EDGELOG_SAS_TOKEN_TTL_SECONDS` (default 3600) sets the token validity.
public struct TwinServiceSettings: Sendable {
    /// Overrides `twin.reportIntervalSeconds` when set.
    public var reportIntervalSeconds: Double?
    public var tokenValiditySeconds: Int64 = 3600
    public var keepAliveSeconds: UInt16 = 60
    /// A twin GET not answered within this is sent again.
    public var getTimeout: Duration = .seconds(30)
    public var reconnectBackoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
    /// `rotateNow`: from the end of one forced pass to the start of the next. Each forced pass makes a new
    /// rotated file of every managed log, and `rotation.rotate` of them are kept: back-to-back calls would push
    /// the history out within minutes.
    public var rotateNowMinimumInterval: Duration = .seconds(60)
    /// `getRecentLogs`: the answer's size as sent (JSON, escapes included), within IoT Hub's 128 KB for a
    /// method's payload.
    public var maxMethodAnswerBytes = 128_000

    public init() {}

    public init(environment env: [String: String]) {
        if let v = env["EDGELOG_TWIN_REPORT_INTERVAL_SECONDS"].flatMap(Double.init), v > 0 { reportIntervalSeconds = v }
        if let v = env["EDGELOG_SAS_TOKEN_TTL_SECONDS"].flatMap(Int64.init), v >= 10 { tokenValiditySeconds = v }
    }

    /// Reconnect (with a new token) when this much validity is left: a tenth, at least 5 s, at most 5 min.
    var renewMarginSeconds: Int64 { min(300, max(5, tokenValiditySeconds / 10)) }
}

/// The module twin and direct methods, as a service next to the supervisor: connects to edgeHub, applies
/// desired properties as `file document ⊕ desired` (RFC 7396 merge), reports `version`, `config` and `health`,
/// and answers `getStatus`, `rotateNow`, `flush` and `getRecentLogs`. Reconnects with backoff, and before the
/// SAS token expires (MQTT 3.1.1 carries it only in CONNECT).
public final class TwinService: Service, Sendable {
    public typealias RotateHook = @Sendable (_ paths: [String]) async throws -> JSONValue

    let edge: EdgeEnvironment
    let supervisor: Supervisor
    let baseDocument: JSONValue
    let settings: TwinServiceSettings
    let logger: Logger
    let rotateNow: RotateHook?
    let recentLogs: @Sendable (Int) -> [String]
    let workload: WorkloadClient?

    /// How often health is reported: the environment's override, else `twin.reportIntervalSeconds`.
    func reportInterval(_ configuration: Configuration) -> Duration {
        let seconds = settings.reportIntervalSeconds ?? configuration.twin.reportIntervalSeconds
        return .milliseconds(Int64(seconds * 1000))
    }

    struct Stats {
        var connections = 0
        var connected = false
        /// The last desired version handled and its problems (empty: applied).
        var lastHandled: (version: Int64, errors: [Diagnostic])?
        var lastReportAnswered: Int?
        /// The supervisor's generation the last `config` report described.
        var reportedGeneration = -1
        var reportConfig = false
        /// `rotateNow`: a pass is under way; when the last one ended.
        var rotating = false
        var lastRotationEnd: ContinuousClock.Instant?
    }
    private let stats = Mutex(Stats())
    /// Admitted `rotateNow` calls, for the worker in `run`.
    private let rotations = AsyncStream.makeStream(of: RotationJob.self)
    /// Connections made so far (for tests and logs).
    public var connections: Int { stats.withLock { $0.connections } }
    /// Whether the MQTT connection to edgeHub is up now.
    public var isConnected: Bool { stats.withLock { $0.connected } }
    /// The version of the desired properties in force (nil while the config file's own configuration runs).
    public var appliedVersion: Int64? {
        if case .desired(let v)? = supervisor.inForce?.origin { return v }
        return nil
    }
    /// The last desired version handled, its status and problems. A version refused because part of it could
    /// not be built is `applied` once a retry of the supervisor applies it.
    public var lastApplied: (version: Int64, status: String, errors: [Diagnostic])? {
        guard let handled = stats.withLock({ $0.lastHandled }) else { return nil }
        if handled.errors.isEmpty { return (handled.version, "applied", []) }
        if let inForce = supervisor.inForce, !inForce.lastGood, inForce.origin == .desired(version: handled.version) {
            return (handled.version, "applied", [])
        }
        return (handled.version, "rejected", handled.errors)
    }

    public init(
        edge: EdgeEnvironment, supervisor: Supervisor, settings: TwinServiceSettings, logger: Logger,
        rotateNow: RotateHook? = nil, recentLogs: @escaping @Sendable (Int) -> [String] = { EdgeLogHandler.recent.last($0) }
    ) {
        self.edge = edge
        self.supervisor = supervisor
        baseDocument = supervisor.startupConfiguration.json
        self.settings = settings
        self.logger = logger
        self.rotateNow = rotateNow
        self.recentLogs = recentLogs
        if case .workload(let socket, let generation, let apiVersion) = edge.credentials {
            workload = WorkloadClient(socketPath: socket, moduleId: edge.moduleId, generationId: generation, apiVersion: apiVersion)
        } else {
            workload = nil
        }
    }

    public func run() async throws {
        for warning in edge.warnings { logger.warning("\(warning)") }
        logger.info("module twin: connecting to edgeHub at \(edge.gatewayHostName):\(edge.port) as \(edge.clientId)")
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // Forced rotation passes run here, beside the connection: a long pass does not hold up desired
                // patches or other methods, and a second call meanwhile is refused at once.
                group.addTask {
                    for await job in self.rotations.stream {
                        let (status, answer) = await self.runAdmittedRotation(job.payload)
                        await self.perform(
                            [TwinSession.methodResponse(rid: job.rid, status: status, payload: answer)],
                            connection: job.connection, session: job.session)
                    }
                }
                var backoff = self.settings.reconnectBackoff
                while !Task.isCancelled {
                    do {
                        let connected = try await self.connectOnce()
                        if connected { backoff.reset() }
                    } catch is CancellationError {
                        break
                    } catch {
                        self.logger.warning("module twin: \(error); reconnecting")
                    }
                    if Task.isCancelled { break }
                    try? await Task.sleep(for: backoff.next())
                }
                group.cancelAll()
            }
        }
    }

    /// A `rotateNow` call admitted by `admitRotation`, with where to answer it.
    struct RotationJob: Sendable {
        let rid: String
        let payload: [UInt8]
        let connection: MQTTConnection
        let session: SessionBox
    }

    // MARK: One connection

    private func credentials(expiry: Int64) async throws -> (token: SASToken, trust: [UInt8]) {
        switch edge.credentials {
        case .workload:
            let workload = workload!
            async let trust = workload.trustBundle()
            let token = try await workload.token(resourceURI: edge.resourceURI, expiry: expiry)
            return (token, try await trust)
        case .sharedAccessKey(let key, let caFile):
            guard let token = SASToken.signLocally(resourceURI: edge.resourceURI, expiry: expiry, keyBase64: key) else {
                throw WorkloadClient.Failure(description: "the SharedAccessKey is not base64")
            }
            guard let pem = try FileSystem.read(caFile, limit: 1 << 20) else {
                throw WorkloadClient.Failure(description: "EdgeModuleCACertificateFile \(caFile) does not exist")
            }
            return (token, pem)
        }
    }

    /// Returns true if the connection came up (the backoff resets), throws why it ended otherwise.
    private func connectOnce() async throws -> Bool {
        let expiry = FileSystem.nowMillis() / 1000 + settings.tokenValiditySeconds
        let (token, trust) = try await credentials(expiry: expiry)
        let connection = try await MQTTConnection.connect(
            MQTTConnectOptions(
                host: edge.gatewayHostName, port: edge.port, transport: edge.mqttTransport, trustRootsPEM: trust, clientId: edge.clientId,
                username: edge.username, password: Array(token.token.utf8), keepAliveSeconds: settings.keepAliveSeconds))
        stats.withLock {
            $0.connections += 1
            $0.connected = true
        }
        defer { stats.withLock { $0.connected = false } }
        logger.info("module twin: connected to edgeHub (\(edge.transport.rawValue), port \(edge.port)); token valid for \(settings.tokenValiditySeconds) s")
        let session = SessionBox()
        let renewAfter = Duration.seconds(settings.tokenValiditySeconds - settings.renewMarginSeconds)
        let reportNow = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // The reader: every message from edgeHub, until the connection ends.
                for await message in connection.messages {
                    let actions = session.state.withLock { $0.received(topic: message.topic, payload: message.payload) }
                    await self.perform(actions, connection: connection, session: session)
                }
            }
            group.addTask {
                do {
                    let granted = try await connection.subscribe(TwinSession.subscriptions.map { ($0, 0) })
                    guard !granted.contains(0x80) else {
                        self.logger.error("module twin: edgeHub refused a subscription (\(granted)); reconnecting")
                        connection.close()
                        return
                    }
                    await self.perform(session.state.withLock { $0.requestTwin() }, connection: connection, session: session)
                } catch {
                    self.logger.warning("module twin: subscribing failed: \(error)")
                    connection.close()
                }
            }
            group.addTask {
                // A GET that was never answered (edgeHub busy, message lost) is sent again.
                while !Task.isCancelled && !connection.isClosed {
                    let before = session.state.withLock { $0.outstandingGet }
                    try? await Task.sleep(for: self.settings.getTimeout)
                    if Task.isCancelled || connection.isClosed { return }
                    if let before, session.state.withLock({ $0.outstandingGet }) == before {
                        self.logger.warning("module twin: no answer to the twin GET; asking again")
                        await self.perform(session.state.withLock { $0.requestTwin() }, connection: connection, session: session)
                    }
                }
            }
            group.addTask {
                // Renewal: reconnect with a fresh token shortly before this one expires.
                try? await Task.sleep(for: renewAfter)
                if !connection.isClosed && !Task.isCancelled {
                    self.logger.info("module twin: SAS token expires soon; reconnecting with a new one")
                    await connection.disconnect()
                }
            }
            group.addTask {
                // Health reports: every interval, and right after a configuration change.
                await withTaskGroup(of: Void.self) { ticks in
                    ticks.addTask {
                        // A timer at the interval in force; a new `twin.reportIntervalSeconds` (desired properties)
                        // replaces it at once. No wakeups in between.
                        var current: Duration?
                        var timer: Task<Void, Never>?
                        defer { timer?.cancel() }
                        // Ends when this task is cancelled (the connection closed).
                        for await configuration in self.supervisor.configurationUpdates() {
                            // A change the supervisor made itself (a retried configuration that applies now):
                            // say so in `config`.
                            let generation = self.supervisor.generation
                            if self.stats.withLock({ s -> Bool in
                                guard s.reportedGeneration >= 0, s.reportedGeneration != generation else { return false }
                                s.reportConfig = true
                                return true
                            }) {
                                reportNow.continuation.yield()
                            }
                            let interval = self.reportInterval(configuration)
                            if interval == current { continue }
                            current = interval
                            timer?.cancel()
                            timer = Task {
                                while !Task.isCancelled && !connection.isClosed {
                                    try? await Task.sleep(for: interval)
                                    if Task.isCancelled { return }
                                    reportNow.continuation.yield()
                                }
                            }
                        }
                    }
                    for await _ in reportNow.stream {
                        if connection.isClosed { break }
                        let full = self.stats.withLock { s -> Bool in
                            defer { s.reportConfig = false }
                            return s.reportConfig
                        }
                        await self.report(full ? self.configPatch() : self.healthPatch(), connection: connection, session: session)
                    }
                    ticks.cancelAll()
                }
            }
            await connection.waitClosed()
            reportNow.continuation.finish()
            group.cancelAll()
        }
        if !Task.isCancelled {
            logger.warning("module twin: disconnected from edgeHub: \(connection.closeReason ?? "unknown reason")")
        }
        return true
    }

    private func perform(_ actions: [TwinSession.Action], connection: MQTTConnection, session: SessionBox) async {
        for action in actions {
            switch action {
            case .publish(let topic, let payload):
                do { try await connection.publish(topic: topic, payload: payload) } catch {
                    logger.warning("module twin: publish failed: \(error)")
                }
            case .apply(let desired, let version):
                let patch = await apply(desired: desired, version: version)
                await report(patch, connection: connection, session: session)
            case .reject(let version, let problem):
                supervisor.discardPending()
                let patch = handled(
                    version: version,
                    errors: [
                        Diagnostic(
                            path: "(desired properties)", problem: problem,
                            fix: "send only EdgeLog's configuration document (see config defaults)")
                    ])
                await report(patch, connection: connection, session: session)
            case .method("rotateNow", let rid, let payload) where rotateNow != nil && payload.count <= 128 * 1024:
                logger.info("module twin: direct method rotateNow")
                if let refusal = admitRotation() {
                    await perform([TwinSession.methodResponse(rid: rid, status: 429, payload: refusal)], connection: connection, session: session)
                } else {
                    rotations.continuation.yield(RotationJob(rid: rid, payload: payload, connection: connection, session: session))
                }
            case .method(let name, let rid, let payload):
                let (status, answer) = await method(name: name, payload: payload)
                await perform([TwinSession.methodResponse(rid: rid, status: status, payload: answer)], connection: connection, session: session)
            case .reportAnswered(_, let status):
                stats.withLock { $0.lastReportAnswered = status }
                if !(200..<300).contains(status) { logger.warning("module twin: IoT Hub refused reported properties (HTTP \(status))") }
            case .getFailed(let status):
                logger.warning("module twin: getting the twin failed (status \(status)); trying again")
                try? await Task.sleep(for: .seconds(2))
                if !connection.isClosed {
                    await perform(session.state.withLock { $0.requestTwin() }, connection: connection, session: session)
                }
            case .warning(let text):
                logger.warning("module twin: \(text)")
            }
        }
    }

    // MARK: Desired properties

    /// Validates `file document ⊕ desired` as a whole and applies it live (once everything it needs is built);
    /// returns the reported patch.
    func apply(desired: JSONValue, version: Int64) async -> JSONValue {
        let document = baseDocument.merging(patch: desired)
        let (configuration, problems) = Configuration.parse(document)
        var errors = problems
        if errors.isEmpty {
            errors = await supervisor.apply(configuration, origin: .desired(version: version))
        } else {
            supervisor.discardPending()
        }
        supervisor.twinAnswered()
        return handled(version: version, errors: errors)
    }

    /// Records how `version` was handled and returns the reported patch.
    func handled(version: Int64, errors: [Diagnostic]) -> JSONValue {
        stats.withLock { $0.lastHandled = (version, errors) }
        if errors.isEmpty {
            logger.info("module twin: desired properties version \(version) applied")
        } else {
            logger.warning(
                "module twin: desired properties version \(version) rejected; the previous configuration stays: \(errors.map(\.description).joined(separator: "; "))")
        }
        return configPatch()
    }

    /// `version`, the whole `config` section and `health`.
    func configPatch() -> JSONValue {
        let generation = supervisor.generation
        stats.withLock { $0.reportedGeneration = generation }
        var config: [(String, JSONValue)] = []
        if let (version, status, errors) = lastApplied {
            config += [
                ("desiredVersion", .int(version)), ("status", .string(status)), ("generation", .int(Int64(generation))),
                // Reported patches merge: `null` first clears the errors of an earlier version.
                ("errors", errors.isEmpty ? .null : Self.errorsDocument(errors)),
            ]
        } else {
            config.append(("generation", .int(Int64(generation))))
        }
        config += configurationState()
        return .object([
            ("version", .string(EdgeLogVersion.current)), ("config", .object(config)),
            ("health", TwinHealth.document(supervisor: supervisor)),
        ])
    }

    /// `inForce` (where the configuration in force came from, whether it is the last good one restored) and
    /// `pending` (the newer configuration that could not be applied yet, its problems and the next try).
    func configurationState() -> [(String, JSONValue)] {
        var inForce: JSONValue = .null
        if let f = supervisor.inForce {
            inForce = .object(
                f.origin.members + [
                    ("lastGood", .bool(f.lastGood)), ("since", .string(TwinHealth.rfc3339(millis: f.sinceMillis))),
                ])
        }
        var pending: JSONValue = .null
        if let p = supervisor.pending {
            var members = p.origin.members
            members.append(("attempts", .int(Int64(p.attempts))))
            members.append(("since", .string(TwinHealth.rfc3339(millis: p.sinceMillis))))
            members.append((
                "nextAttemptSeconds",
                p.nextAttempt.map { JSONValue.int(max(0, ($0 - ContinuousClock.now).components.seconds)) } ?? .null
            ))
            members.append(("errors", Self.errorsDocument(p.problems)))
            pending = .object(members)
        }
        return [("inForce", inForce), ("pending", pending)]
    }

    /// Problems keyed `e{n}_{path}` (at most 20), texts clipped, URLs redacted.
    static func errorsDocument(_ errors: [Diagnostic]) -> JSONValue {
        var members: [(String, JSONValue)] = []
        for (i, e) in errors.prefix(20).enumerated() {
            let problem = URLRedaction.redactURLs(in: String(e.problem.prefix(300)))
            let fix = URLRedaction.redactURLs(in: String(e.fix.prefix(300)))
            members.append(
                (TwinHealth.key("e\(i + 1)_\(e.path)"),
                 .object([("path", .string(e.path)), ("problem", .string(problem)), ("fix", .string(fix))])))
        }
        return .object(members)
    }

    /// `version`, `health`, and the `config` section's `inForce` and `pending` (they change without a desired
    /// version: a retry, the last good configuration restored).
    func healthPatch() -> JSONValue {
        .object([
            ("version", .string(EdgeLogVersion.current)), ("config", .object(configurationState())),
            ("health", TwinHealth.document(supervisor: supervisor)),
        ])
    }

    private func report(_ patch: JSONValue, connection: MQTTConnection, session: SessionBox) async {
        // Clear earlier errors first: a reported patch merges into what is there.
        var cleared: [(String, JSONValue)] = []
        for key in ["errors", "pending"] {
            if case .object? = patch["config"]?[key] { cleared.append((key, .null)) }
        }
        if !cleared.isEmpty {
            let clear = JSONValue.object([("config", .object(cleared))])
            let (_, action) = session.state.withLock { $0.report(clear) }
            if case .publish(let t, let p) = action { try? await connection.publish(topic: t, payload: p) }
        }
        let (_, action) = session.state.withLock { $0.report(patch) }
        guard case .publish(let topic, let payload) = action else { return }
        if payload.count > 32 * 1024 { logger.warning("module twin: reported properties of \(payload.count) bytes exceed the 32 KB twin limit") }
        do { try await connection.publish(topic: topic, payload: payload) } catch {
            logger.warning("module twin: reporting failed: \(error)")
        }
    }

    // MARK: Direct methods

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
                let wait = end + interval - ContinuousClock.now
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
                $0.lastRotationEnd = .now
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

/// The twin session of one connection, shared by its tasks.
final class SessionBox: Sendable {
    let state = Mutex(TwinSession())
}
