import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server for `MetricsEndpoints`: GET only, keep-alive, requests bounded in size. Nothing a
/// client sends can make it hold more than one answer and a few request heads per connection:
///
/// - each connection is answered one request at a time, and nothing more is read from it until the client has
///   taken the answer (so a client that sends requests without reading the answers stops being read, and its
///   answers wait in the kernel's socket buffers, not in EdgeLog's memory); at most `maxQueuedRequests` requests
///   that arrived together are kept, more close the connection;
/// - every phase has a deadline that no trickle of bytes extends: the first request must be complete within
///   `requestTimeout` of the connection's start, each later one within `idleTimeout` of the previous answer, and
///   the client must take an answer within `answerTimeout`;
/// - a new connection always gets a slot: at `maxConnections`, the connection longest in its current phase is
///   closed for it, and a connection from loopback (the health check) is never closed for one from elsewhere.
///
/// Requests are answered on the event loop (a scrape is a few locks, `stat`s and /proc reads), so a busy
/// concurrency pool never delays a health check.
public final class MetricsServer: Sendable {
    public struct Limits: Sendable {
        /// The request line and headers together; a longer request is answered 400 and closed.
        public var maxHeaderBytes = 16 << 10
        /// A request body (a GET has none); a longer one is answered 413 and closed.
        public var maxBodyBytes = 16 << 10
        /// Connections at once; a new one beyond this closes the one longest in its current phase.
        public var maxConnections = 16
        /// From a connection's start to the end of its first request.
        public var requestTimeout: TimeAmount = .seconds(10)
        /// From the end of an answer to the end of the next request on the same connection (keep-alive).
        public var idleTimeout: TimeAmount = .seconds(30)
        /// From writing an answer to the client having taken all of it.
        public var answerTimeout: TimeAmount = .seconds(20)
        /// Requests received ahead of their answers (pipelining); more close the connection.
        public var maxQueuedRequests = 16
        /// Bytes read from a connection at a time.
        public var readChunkBytes = 4096

        public init() {}
    }

    /// What the server holds and what it had to refuse, for tests and diagnostics.
    public struct Stats: Sendable, Equatable {
        /// Bytes of answers written and not yet taken by the socket, now and at most so far.
        public var bufferedAnswerBytes = 0
        public var maxBufferedAnswerBytes = 0
        /// Connections whose client has not yet taken an answer.
        public var answersWaiting = 0
        /// Connections open now, and admitted so far.
        public var open = 0
        public var accepted = 0
        /// Connections closed to make room for a new one, and new ones refused (every slot held by loopback).
        public var evicted = 0
        public var refused = 0
        /// Connections closed because a request or the taking of an answer passed its deadline.
        public var timedOut = 0
        /// Connections closed for sending more than `maxQueuedRequests` requests ahead.
        public var overQueued = 0
    }

    /// The address it listens on, as given.
    public let host: String
    /// The port it listens on (the one bound, when 0 was asked for).
    public let port: Int
    private let listener: any Channel
    private let connections: Connections
    private let endpoints: EndpointsBox

    private init(host: String, port: Int, listener: any Channel, connections: Connections, endpoints: EndpointsBox) {
        self.host = host
        self.port = port
        self.listener = listener
        self.connections = connections
        self.endpoints = endpoints
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
        let box = EndpointsBox(endpoints)
        let chunk = max(64, limits.readChunkBytes)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 32)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // Reading is driven by the handler: only when no answer is pending, a bounded chunk at a time.
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 1)
            .childChannelOption(
                ChannelOptions.recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: min(1024, chunk), maximum: chunk))
            .childChannelInitializer { channel in
                guard let id = connections.admit(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: true,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                    try sync.addHandler(
                        MetricsHTTPHandler(endpoints: box, limits: limits, connections: connections, id: id))
                }
            }
            .bind(host: host, port: port).get()
        let bound = listener.localAddress?.port ?? port
        return MetricsServer(host: host, port: bound, listener: listener, connections: connections, endpoints: box)
    }

    /// What the server holds now and what it refused so far.
    public var stats: Stats { connections.stats }

    /// Answers later requests with `endpoints` (a new `metrics.path`) without closing the listener.
    public func replaceEndpoints(_ endpoints: MetricsEndpoints) { self.endpoints.set(endpoints) }

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

    /// True for 127.0.0.0/8, ::1, IPv4-mapped loopback and unix sockets.
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address else { return false }
        switch address {
        case .v4: return address.ipAddress?.hasPrefix("127.") == true
        case .v6:
            let ip = address.ipAddress?.lowercased() ?? ""
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        case .unixDomainSocket: return true
        }
    }

    /// The endpoints, replaceable while serving.
    final class EndpointsBox: Sendable {
        private let value: Mutex<MetricsEndpoints>
        init(_ endpoints: MetricsEndpoints) { value = Mutex(endpoints) }
        var current: MetricsEndpoints { value.withLock { $0 } }
        func set(_ endpoints: MetricsEndpoints) { value.withLock { $0 = endpoints } }
    }

    /// The open connections: their slots, the figures, and closing them all.
    final class Connections: Sendable {
        private struct State {
            var slots: ConnectionSlots
            var channels: [Int: any Channel] = [:]
            var next = 0
            var closed = false
            var stats = Stats()
        }
        private let state: Mutex<State>

        init(limit: Int) { state = Mutex(State(slots: ConnectionSlots(limit: limit))) }

        static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

        /// Registers a new connection (closing another if a slot has to be freed); nil if it is refused.
        func admit(_ channel: any Channel) -> Int? {
            let loopback = MetricsServer.isLoopback(channel.remoteAddress)
            let (id, evicted) = state.withLock { s -> (Int?, (any Channel)?) in
                guard !s.closed else { return (nil, nil) }
                s.next += 1
                let id = s.next
                switch s.slots.admit(id, loopback: loopback, now: Self.now()) {
                case .refuse:
                    s.stats.refused += 1
                    return (nil, nil)
                case .admit:
                    s.stats.accepted += 1
                    s.channels[id] = channel
                    s.stats.open = s.channels.count
                    return (id, nil)
                case .admitEvicting(let victim):
                    s.stats.accepted += 1
                    s.stats.evicted += 1
                    let old = s.channels.removeValue(forKey: victim)
                    s.channels[id] = channel
                    s.stats.open = s.channels.count
                    return (id, old)
                }
            }
            evicted?.close(promise: nil)
            if let id {
                channel.closeFuture.whenComplete { _ in
                    self.state.withLock { s in
                        s.slots.remove(id)
                        s.channels[id] = nil
                        s.stats.open = s.channels.count
                    }
                }
            }
            return id
        }

        /// Connection `id` now waits for a request (`false`) or for its client to take an answer.
        func enter(_ id: Int, answering: Bool) {
            state.withLock { $0.slots.enter(id, answering ? .answering : .waiting, now: Self.now()) }
        }

        /// An answer of `bytes` was written (positive) or taken by the socket or dropped (negative).
        func buffered(_ bytes: Int) {
            state.withLock { s in
                s.stats.bufferedAnswerBytes += bytes
                s.stats.answersWaiting += bytes > 0 ? 1 : -1
                s.stats.maxBufferedAnswerBytes = max(s.stats.maxBufferedAnswerBytes, s.stats.bufferedAnswerBytes)
            }
        }

        func count(timedOut: Int = 0, overQueued: Int = 0) {
            state.withLock { s in
                s.stats.timedOut += timedOut
                s.stats.overQueued += overQueued
            }
        }

        var stats: Stats { state.withLock { $0.stats } }

        func closeAll() {
            let open = state.withLock { s in
                s.closed = true
                return Array(s.channels.values)
            }
            for channel in open { channel.close(promise: nil) }
        }
    }
}
