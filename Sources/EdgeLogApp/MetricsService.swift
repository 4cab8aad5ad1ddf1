import EdgeLogCore
import EdgeLogMetrics
import Logging
import ServiceLifecycle
import Synchronization

/// `/metrics` and `/healthz` as a service next to the supervisor, and one of its `ConfigurationStage`s: a
/// configuration whose `metrics` section needs a new listener (`enabled`, `host`, `port`) is applied only once
/// that listener is bound, so a patch naming a port in use is refused and the listener in force keeps serving.
/// A new `path` only changes the answers. Where it listens is written to `<stateDirectory>/metrics-endpoint.json`
/// for `edgelog healthcheck`. If nothing serves yet (the first start, or the port was taken), a listener that
/// cannot be bound is not a reason to refuse a configuration: it is tried again with backoff (1 s to 60 s).
public final class MetricsService: Service, ConfigurationStage, Sendable {
    let supervisor: Supervisor
    let collector: MetricsCollector
    let logger: Logger
    let limits: MetricsServer.Limits

    /// The part of the section that needs a new listener when it changes.
    struct Listener: Equatable {
        var enabled: Bool
        var host: String
        var port: Int
        var path: String

        init(_ s: MetricsSettings) {
            (enabled, host, port, path) = (s.enabled, s.host, Int(s.port), s.path)
        }

        func sameSocket(_ other: Listener) -> Bool { enabled && other.enabled && host == other.host && port == other.port }
    }

    private enum Staged {
        /// Nothing to change, or only the path.
        case keep(Listener)
        /// A new listener (nil: disabled, or not bound yet and to be retried); `oldClosed` when the old one had to
        /// be closed to bind the new one on the same port.
        case replace(Listener, MetricsServer?, oldClosed: Bool)
    }

    private struct State {
        var current: Listener?
        var server: MetricsServer?
        var staged: Staged?
        var stateDirectory: String
        /// The current listener is wanted but not bound: tried again until it is.
        var unbound = false
        var stopped = false
    }
    private let state: Mutex<State>
    private let retryBell = Doorbell()

    public init(
        supervisor: Supervisor, collector: MetricsCollector, logger: Logger, limits: MetricsServer.Limits = .init()
    ) {
        self.supervisor = supervisor
        self.collector = collector
        self.logger = logger
        self.limits = limits
        state = Mutex(State(stateDirectory: supervisor.configuration.stateDirectory))
    }

    public func run() async throws {
        await supervisor.attach(self)
        await cancelWhenGracefulShutdown { await self.retryUnbound() }
        supervisor.detach(self)
        let server = state.withLock { s -> MetricsServer? in
            s.stopped = true
            defer { s.server = nil }
            return s.server
        }
        await server?.close()
    }

    /// The listener the configuration in force wants, while it cannot be bound.
    private func retryUnbound() async {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
        while !Task.isCancelled {
            guard let wanted = state.withLock({ $0.unbound ? $0.current : nil }) else {
                backoff.reset()
                await retryBell.wait()
                continue
            }
            await retryBell.wait(until: .now + backoff.next())
            if Task.isCancelled { return }
            // Only if the same listener is still the one wanted and still unbound.
            guard state.withLock({ $0.unbound && $0.current == wanted && $0.staged.isNone }) else { continue }
            guard let server = try? await bind(wanted) else { continue }
            let kept = state.withLock { s -> Bool in
                guard s.unbound, s.current == wanted, s.staged.isNone, !s.stopped else { return false }
                s.server = server
                s.unbound = false
                return true
            }
            if kept {
                logger.info("metrics: serving http://\(wanted.host):\(server.port)\(wanted.path) and \(MetricsSettings.healthPath)")
                writeEndpoint(wanted, port: server.port)
            } else {
                await server.close()
            }
        }
    }

    private func bind(_ listener: Listener) async throws -> MetricsServer {
        try await MetricsServer.bind(
            host: listener.host, port: listener.port, endpoints: collector.endpoints(path: listener.path),
            limits: limits)
    }

    // MARK: ConfigurationStage

    public func prepare(_ new: Configuration) async -> [Diagnostic] {
        let wanted = Listener(new.metrics)
        let (current, server) = state.withLock { ($0.current, $0.server) }
        if wanted == current || (current.map { wanted.sameSocket($0) } ?? false) && server != nil {
            state.withLock { $0.staged = .keep(wanted) }
            return []
        }
        guard wanted.enabled else {
            state.withLock { $0.staged = .replace(wanted, nil, oldClosed: false) }
            return []
        }
        do {
            let bound = try await bind(wanted)
            state.withLock { $0.staged = .replace(wanted, bound, oldClosed: false) }
            return []
        } catch {
            // The running listener may hold the port (the same port on another host, e.g. 0.0.0.0 → 127.0.0.1):
            // close it, bind, and if that fails too, bind the old one again.
            if let server, let current, current.port == wanted.port {
                await server.close()
                if let bound = try? await bind(wanted) {
                    state.withLock { s in
                        s.server = nil
                        s.staged = .replace(wanted, bound, oldClosed: true)
                    }
                    return []
                }
                let restored = try? await bind(current)
                state.withLock { s in
                    s.server = restored
                    s.unbound = restored == nil
                }
                if restored == nil { retryBell.ring() }
            } else if server == nil {
                // Nothing serves now: nothing to keep by refusing. Serve this one as soon as it can be bound.
                state.withLock { $0.staged = .replace(wanted, nil, oldClosed: false) }
                logger.error(
                    "metrics: cannot listen on \(wanted.host):\(wanted.port): \(error); /metrics and /healthz are unavailable, trying again"
                )
                return []
            }
            return [
                Diagnostic(
                    path: "metrics.port",
                    problem: "cannot listen on \(wanted.host):\(wanted.port): \(error)",
                    fix: "choose a free port (or host); the listener in force keeps serving")
            ]
        }
    }

    public func finish(applied: Bool) async {
        let (staged, current, oldServer) = state.withLock { s in
            defer { s.staged = nil }
            return (s.staged, s.current, s.server)
        }
        guard let staged else { return }
        guard applied else {
            if case .replace(_, let bound, let oldClosed) = staged {
                await bound?.close()
                if oldClosed, let current {
                    let restored = try? await bind(current)
                    state.withLock { s in
                        s.server = restored
                        s.unbound = restored == nil
                    }
                    if restored == nil { retryBell.ring() }
                }
            }
            return
        }
        switch staged {
        case .keep(let wanted):
            if wanted.path != current?.path { oldServer?.replaceEndpoints(collector.endpoints(path: wanted.path)) }
            state.withLock { $0.current = wanted }
        case .replace(let wanted, let bound, _):
            let stopped = state.withLock { s -> Bool in
                s.current = wanted
                s.server = bound
                s.unbound = wanted.enabled && bound == nil
                return s.stopped
            }
            if let oldServer {
                await oldServer.close()
                logger.info("metrics: stopped listening on \(oldServer.host):\(oldServer.port)")
            }
            if stopped {
                await bound?.close()
                return
            }
            if let bound {
                logger.info(
                    "metrics: serving http://\(wanted.host):\(bound.port)\(wanted.path) and \(MetricsSettings.healthPath)")
                writeEndpoint(wanted, port: bound.port)
            } else if !wanted.enabled {
                logger.info("metrics: disabled (metrics.enabled is false)")
                writeEndpoint(wanted, port: wanted.port)
            } else {
                // Announce where it will be: the healthcheck then says it cannot connect there.
                writeEndpoint(wanted, port: wanted.port)
                retryBell.ring()
            }
        }
    }

    private func writeEndpoint(_ listener: Listener, port: Int) {
        let stateDirectory = state.withLock { $0.stateDirectory }
        let endpoint = MetricsEndpointFile.Endpoint(enabled: listener.enabled, host: listener.host, port: port)
        do {
            try MetricsEndpointFile.write(endpoint, stateDirectory: stateDirectory)
        } catch {
            logger.warning("metrics: cannot write \(stateDirectory)/\(MetricsEndpointFile.name): \(error)")
        }
    }
}

extension Optional {
    fileprivate var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
