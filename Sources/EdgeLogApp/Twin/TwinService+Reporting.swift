import EdgeLogCore
import EdgeLogTwin

/// Reported properties: `version`, `config` (how desired properties were handled, what is in force and pending)
/// and `health`, at the report interval and right after a configuration change.
extension TwinService {
    /// Reports until `reportNow` finishes (the connection closed): a config patch after a change the supervisor
    /// made itself, a health patch at each tick of the report timer, which runs as a child task beside it.
    func reportHealth(
        _ reportNow: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation),
        connection: MQTTConnection, session: SessionBox
    ) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.reportTimer(reportNow.continuation) }
            for await _ in reportNow.stream {
                if connection.isClosed { break }
                let full = self.stats.withLock { s -> Bool in
                    defer { s.reportConfig = false }
                    return s.reportConfig
                }
                await self.report(full ? self.configPatch() : self.healthPatch(), connection: connection, session: session)
            }
            group.cancelAll()
        }
    }

    /// How often health is reported: the environment's override, else `twin.reportIntervalSeconds`.
    func reportInterval(_ configuration: Configuration) -> Duration {
        let seconds = settings.reportIntervalSeconds ?? configuration.twin.reportIntervalSeconds
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Ticks `reportNow` at the interval in force until cancelled. One turn per interval: the turn's ticker runs
    /// beside a watcher of the configuration in force, and a new `twin.reportIntervalSeconds` (desired properties)
    /// ends the turn, ticker and all, so the next one starts with it at once. No wakeups in between.
    func reportTimer(_ reportNow: AsyncStream<Void>.Continuation) async {
        var interval: Duration?
        while !Task.isCancelled {
            let current = interval
            let next = await withTaskGroup(of: Duration?.self) { turn -> Duration? in
                turn.addTask {
                    // Each subscription starts with the configuration in force; ends when cancelled.
                    for await configuration in self.supervisor.configurationUpdates() {
                        self.noteSupervisorChange(reportNow)
                        let wanted = self.reportInterval(configuration)
                        if wanted != current { return wanted }
                    }
                    return nil
                }
                if let current {
                    turn.addTask {
                        while true {
                            do { try await self.clock.sleep(for: current) } catch { return nil }
                            reportNow.yield()
                        }
                    }
                }
                let first = await turn.next() ?? nil
                turn.cancelAll()
                return first
            }
            guard let next else { return }
            interval = next
        }
    }

    /// A change the supervisor made itself (a retried configuration that applies now): say so in `config` at once.
    private func noteSupervisorChange(_ reportNow: AsyncStream<Void>.Continuation) {
        let generation = supervisor.generation
        let changed = stats.withLock { s -> Bool in
            guard s.reportedGeneration >= 0, s.reportedGeneration != generation else { return false }
            s.reportConfig = true
            return true
        }
        if changed { reportNow.yield() }
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

    /// Publishes a reported patch, one report at a time per connection, the patch made only once the previous
    /// one is sent: what edgeHub receives last is the newest state (a `config` report of the reporter cannot land
    /// after the reader's answer to a newer desired version with the older one it made meanwhile).
    func report(_ patch: @autoclosure () -> JSONValue, connection: MQTTConnection, session: SessionBox) async {
        await session.reports.run { await publish(patch(), connection: connection, session: session) }
    }

    private func publish(_ patch: JSONValue, connection: MQTTConnection, session: SessionBox) async {
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
}
