import EdgeLogCore
import EdgeLogTwin
import Logging
import ServiceLifecycle
import Synchronization

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
    /// The time of every timer: reports, GET retries, token renewal, reconnect backoff, the rotateNow interval.
    let clock: ElapsedClock

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
        var lastRotationEnd: Duration?
    }
    let stats = Mutex(Stats())
    /// Admitted `rotateNow` calls, for the worker in `run`.
    let rotations = AsyncStream.makeStream(of: RotationJob.self)
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
        rotateNow: RotateHook? = nil, recentLogs: @escaping @Sendable (Int) -> [String] = { EdgeLogHandler.recent.last($0) },
        clock: ElapsedClock = .continuous
    ) {
        self.clock = clock
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
                    try? await self.clock.sleep(for: backoff.next())
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
                    try? await self.clock.sleep(for: self.settings.getTimeout)
                    if Task.isCancelled || connection.isClosed { return }
                    if let before, session.state.withLock({ $0.outstandingGet }) == before {
                        self.logger.warning("module twin: no answer to the twin GET; asking again")
                        await self.perform(session.state.withLock { $0.requestTwin() }, connection: connection, session: session)
                    }
                }
            }
            group.addTask {
                // Renewal: reconnect with a fresh token shortly before this one expires.
                try? await self.clock.sleep(for: renewAfter)
                if !connection.isClosed && !Task.isCancelled {
                    self.logger.info("module twin: SAS token expires soon; reconnecting with a new one")
                    await connection.disconnect()
                }
            }
            group.addTask {
                // Health reports: every interval, and right after a configuration change.
                await self.reportHealth(reportNow, connection: connection, session: session)
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

    func perform(_ actions: [TwinSession.Action], connection: MQTTConnection, session: SessionBox) async {
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
                try? await clock.sleep(for: .seconds(2))
                if !connection.isClosed {
                    await perform(session.state.withLock { $0.requestTwin() }, connection: connection, session: session)
                }
            case .warning(let text):
                logger.warning("module twin: \(text)")
            }
        }
    }
}
