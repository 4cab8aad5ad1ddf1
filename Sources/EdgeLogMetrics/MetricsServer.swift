import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server for `MetricsEndpoints`: GET only, keep-alive, requests bounded in size, idle
/// connections closed, a fixed number of connections at once. Requests are answered on the event loop (a scrape
/// is a few locks, `stat`s and /proc reads), so a busy concurrency pool never delays a health check.
public final class MetricsServer: Sendable {
    public struct Limits: Sendable {
        /// The request line and headers together; a longer request is answered 400 and closed.
        public var maxHeaderBytes = 16 << 10
        /// A request body (a GET has none); a longer one is answered 413 and closed.
        public var maxBodyBytes = 16 << 10
        /// Connections at once; more are closed as soon as they are accepted.
        public var maxConnections = 16
        /// A connection nothing was read from for this long is closed.
        public var idleTimeout: TimeAmount = .seconds(30)

        public init() {}
    }

    /// The address it listens on, as given.
    public let host: String
    /// The port it listens on (the one bound, when 0 was asked for).
    public let port: Int
    private let listener: any Channel
    private let connections: Connections

    private init(host: String, port: Int, listener: any Channel, connections: Connections) {
        self.host = host
        self.port = port
        self.listener = listener
        self.connections = connections
    }

    /// Listens on `host:port` and serves until `close()`; `run()` waits for that.
    public static func bind(
        host: String, port: Int, endpoints: MetricsEndpoints, limits: Limits = Limits()
    ) async throws -> MetricsServer {
        var decoder = NIOHTTPDecoderLimitConfiguration()
        decoder.maxHeaderFieldSize = limits.maxHeaderBytes
        decoder.maxHeaderListSize = limits.maxHeaderBytes
        decoder.maxHeaderFieldCount = 100
        let decoderLimits = decoder
        let connections = Connections(limit: limits.maxConnections)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 32)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.admit(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
                    try sync.addHandler(IdleConnectionCloser())
                    try sync.configureHTTPServerPipeline(
                        withErrorHandling: true, withOutboundHeaderValidation: true, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    try sync.addHandler(MetricsHTTPHandler(endpoints: endpoints, maxBodyBytes: limits.maxBodyBytes))
                }
            }
            .bind(host: host, port: port).get()
        let bound = listener.localAddress?.port ?? port
        return MetricsServer(host: host, port: bound, listener: listener, connections: connections)
    }

    /// Returns once the server is closed; cancelling it closes the server.
    public func run() async {
        await withTaskCancellationHandler {
            try? await listener.closeFuture.get()
        } onCancel: {
            listener.close(promise: nil)
        }
        connections.closeAll()
    }

    /// Stops listening (the port is free when this returns) and closes every connection.
    public func close() async {
        try? await listener.close()
        connections.closeAll()
    }

    /// The open connections, for the limit and for closing them all.
    final class Connections: Sendable {
        private struct State {
            var open: [ObjectIdentifier: any Channel] = [:]
            var closed = false
        }
        private let state = Mutex(State())
        let limit: Int

        init(limit: Int) { self.limit = limit }

        /// Registers a new connection; false if the server is closed or full.
        func admit(_ channel: any Channel) -> Bool {
            let id = ObjectIdentifier(channel)
            let admitted = state.withLock { s in
                guard !s.closed, s.open.count < limit else { return false }
                s.open[id] = channel
                return true
            }
            if admitted {
                channel.closeFuture.whenComplete { _ in self.state.withLock { _ = $0.open.removeValue(forKey: id) } }
            }
            return admitted
        }

        func closeAll() {
            let open = state.withLock { s in
                s.closed = true
                return Array(s.open.values)
            }
            for channel in open { channel.close(promise: nil) }
        }
    }
}
