import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Where and how to connect: MQTT 3.1.1 over TLS, directly or through a WebSocket, the server's certificate
/// verified against `trustRootsPEM` (never disabled).
public struct MQTTConnectOptions: Sendable {
    public var host: String
    public var port: Int
    public var transport: MQTTTransport
    /// PEM certificates the server's chain must lead to.
    public var trustRootsPEM: [UInt8]
    public var clientId: String
    public var username: String?
    /// The SAS token; kept out of every description.
    public var password: [UInt8]?
    public var keepAliveSeconds: UInt16
    /// Larger packets from the server close the connection.
    public var maxPacketBytes: Int
    public var connectTimeout: Duration

    public init(
        host: String, port: Int, transport: MQTTTransport = .tcp, trustRootsPEM: [UInt8], clientId: String,
        username: String? = nil, password: [UInt8]? = nil, keepAliveSeconds: UInt16 = 60, maxPacketBytes: Int = 512 * 1024,
        connectTimeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.transport = transport
        self.trustRootsPEM = trustRootsPEM
        self.clientId = clientId
        self.username = username
        self.password = password
        self.keepAliveSeconds = keepAliveSeconds
        self.maxPacketBytes = maxPacketBytes
        self.connectTimeout = connectTimeout
    }
}

public enum MQTTConnectionError: Error, Sendable, CustomStringConvertible {
    case refused(returnCode: UInt8)
    case closed(reason: String)
    case timedOut(String)
    case tls(String)
    /// The WebSocket upgrade was refused or failed, or the server broke the WebSocket protocol.
    case webSocket(String)

    public var description: String {
        switch self {
        case .refused(let code):
            let why = [1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                       4: "bad user name or password", 5: "not authorized"][Int(code)] ?? "unknown reason"
            return "the MQTT server refused the connection (return code \(code): \(why))"
        case .closed(let reason): return "the MQTT connection closed: \(reason)"
        case .timedOut(let what): return "timed out waiting for \(what)"
        case .tls(let what): return "TLS setup failed: \(what)"
        case .webSocket(let what): return "WebSocket: \(what)"
        }
    }
}

/// One MQTT connection: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH QoS 0 and 1 (with PUBACK both ways),
/// PINGREQ/PINGRESP keepalive, DISCONNECT. Incoming PUBLISHes arrive on `messages`. When the connection
/// ends (any reason: protocol error, keepalive timeout, server gone) `messages` finishes and pending
/// calls throw; reconnecting is the caller's job (`TwinClient` does it with backoff).
public final class MQTTConnection: Sendable {
    private struct State {
        var connack: CheckedContinuation<Void, any Error>?
        var acks: [UInt16: CheckedContinuation<[UInt8], any Error>] = [:]
        var nextId: UInt16 = 1
        var awaitingPingResponse = false
        var closing = false
        var closed = false
        var closeReason: String?
    }
    private let state = Mutex(State())
    private let inbound: AsyncStream<MQTTPacket.Publish>.Continuation
    public let messages: AsyncStream<MQTTPacket.Publish>
    private let channelBox = Mutex<(any Channel)?>(nil)

    private init() {
        (messages, inbound) = AsyncStream.makeStream(of: MQTTPacket.Publish.self, bufferingPolicy: .bufferingNewest(1000))
    }

    /// Why the connection ended, once it has.
    public var closeReason: String? { state.withLock { $0.closeReason } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    var isClosing: Bool { state.withLock { $0.closing } }

    /// Opens TCP + TLS (and upgrades to WebSocket for `.webSocket`), sends CONNECT and waits for CONNACK.
    public static func connect(
        _ options: MQTTConnectOptions, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MQTTConnection {
        let sslContext: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(options.trustRootsPEM))
            tls.certificateVerification = .fullVerification
            sslContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw MQTTConnectionError.tls("the trust bundle is not usable: \(error)")
        }
        let connection = MQTTConnection()
        let decoder = MQTTDecoder(maxPacketBytes: options.maxPacketBytes)
        let mqttHandlers: @Sendable () -> [any ChannelHandler] = {
            [
                ByteToMessageHandler(MQTTFrameDecoder(decoder: decoder)),
                MessageToByteHandler(MQTTFrameEncoder()),
                MQTTConnectionHandler(connection: connection),
            ]
        }
        let eventLoop = group.next()
        // Completed by the WebSocket upgrade (or its failure, the deadline, a failed connect).
        let upgraded: EventLoopPromise<Void>? = options.transport == .tcp ? nil : eventLoop.makePromise()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.seconds(Int64(options.connectTimeout.components.seconds)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let ssl = try NIOSSLClientHandler(context: sslContext, serverHostname: options.host)
                        try channel.pipeline.syncOperations.addHandler(ssl)
                        switch options.transport {
                        case .tcp:
                            try channel.pipeline.syncOperations.addHandlers(mqttHandlers())
                        case .webSocket(let path):
                            try WebSocketUpgradeRequester.addHandlers(
                                to: channel, host: options.host, port: options.port, path: path,
                                maxFrameSize: max(1 << 16, options.maxPacketBytes + 5), upgraded: upgraded!, then: mqttHandlers)
                        }
                    }
                }
                .connect(host: options.host, port: options.port).get()
        } catch {
            upgraded?.fail(error)
            throw error
        }
        if let upgraded {
            do {
                try await waitForUpgrade(upgraded, on: channel, timeout: options.connectTimeout)
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
        connection.channelBox.withLock { $0 = channel }
        let connect = MQTTPacket.Connect(
            clientId: options.clientId, username: options.username, password: options.password,
            keepAliveSeconds: options.keepAliveSeconds, cleanSession: true)
        do {
            try await withDeadline(options.connectTimeout, what: "CONNACK") {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                        let refusal = connection.state.withLock { s -> String? in
                            if s.closed { return s.closeReason ?? "closed before CONNACK" }
                            if Task.isCancelled { return "cancelled" }
                            s.connack = c
                            return nil
                        }
                        if let refusal {
                            c.resume(throwing: MQTTConnectionError.closed(reason: refusal))
                        } else {
                            channel.writeAndFlush(MQTTPacket.connect(connect), promise: nil)
                        }
                    }
                } onCancel: {
                    connection.state.withLock { s -> CheckedContinuation<Void, any Error>? in
                        defer { s.connack = nil }
                        return s.connack
                    }?.resume(throwing: CancellationError())
                }
            }
        } catch {
            connection.close()
            throw error
        }
        if options.keepAliveSeconds > 0 {
            connection.startKeepalive(channel: channel, every: .seconds(Int64(options.keepAliveSeconds)))
        }
        return connection
    }

    /// Waits until the WebSocket upgrade is done (the MQTT handlers are in place), at most `timeout`.
    private static func waitForUpgrade(_ upgraded: EventLoopPromise<Void>, on channel: any Channel, timeout: Duration) async throws {
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            upgraded.fail(MQTTConnectionError.timedOut("the WebSocket upgrade"))
        }
        defer { deadline.cancel() }
        try await withTaskCancellationHandler {
            try await upgraded.futureResult.get()
        } onCancel: {
            upgraded.fail(CancellationError())
        }
    }

    /// Subscribes and returns the granted QoS per filter (0x80: refused).
    public func subscribe(_ topics: [(filter: String, qos: UInt8)], timeout: Duration = .seconds(30)) async throws -> [UInt8] {
        try await request(timeout: timeout, what: "SUBACK") { .subscribe(packetId: $0, topics: topics) }
    }

    /// QoS 0: returns once written. QoS 1: returns at the PUBACK.
    public func publish(topic: String, payload: [UInt8], qos: UInt8 = 0, timeout: Duration = .seconds(30)) async throws {
        if qos == 0 {
            try await write(.publish(.init(topic: topic, payload: payload)))
        } else {
            _ = try await request(timeout: timeout, what: "PUBACK") {
                .publish(.init(topic: topic, payload: payload, qos: 1, packetId: $0))
            }
        }
    }

    /// Sends DISCONNECT, closes and waits until the connection has ended.
    public func disconnect() async {
        try? await write(.disconnect)
        close()
        await waitClosed()
    }

    /// Closes without DISCONNECT.
    public func close() {
        state.withLock { $0.closing = true }
        if let channel = channelBox.withLock({ $0 }) {
            channel.close(promise: nil)
        } else {
            channelClosed()
        }
    }

    /// Waits until the connection has ended.
    public func waitClosed() async {
        for await _ in messagesObserver() {}
        if !isClosed { channelClosed() }
    }

    private func messagesObserver() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let channel = channelBox.withLock { $0 }
        if let channel {
            channel.closeFuture.whenComplete { _ in continuation.finish() }
        } else {
            continuation.finish()
        }
        return stream
    }

    private func write(_ packet: MQTTPacket) async throws {
        guard let channel = channelBox.withLock({ $0 }), !isClosed else {
            throw MQTTConnectionError.closed(reason: closeReason ?? "not connected")
        }
        try await channel.writeAndFlush(packet).get()
    }

    private func request(timeout: Duration, what: String, _ make: (UInt16) -> MQTTPacket) async throws -> [UInt8] {
        let id = state.withLock { s -> UInt16 in
            while s.acks[s.nextId] != nil { s.nextId = s.nextId == .max ? 1 : s.nextId + 1 }
            defer { s.nextId = s.nextId == .max ? 1 : s.nextId + 1 }
            return s.nextId
        }
        let packet = make(id)
        guard let channel = channelBox.withLock({ $0 }) else { throw MQTTConnectionError.closed(reason: "not connected") }
        do {
            return try await withDeadline(timeout, what: what) {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], any Error>) in
                        let reason = self.state.withLock { s -> String? in
                            if s.closed { return s.closeReason ?? "closed" }
                            if Task.isCancelled { return "cancelled" }
                            s.acks[id] = c
                            return nil
                        }
                        if let reason {
                            c.resume(throwing: MQTTConnectionError.closed(reason: reason))
                        } else {
                            channel.writeAndFlush(packet, promise: nil)
                        }
                    }
                } onCancel: {
                    self.state.withLock { $0.acks.removeValue(forKey: id) }?.resume(throwing: CancellationError())
                }
            }
        } catch {
            if let c = state.withLock({ $0.acks.removeValue(forKey: id) }) {
                c.resume(throwing: error)
            }
            throw error
        }
    }

    /// A PINGREQ every three quarters of the keepalive interval (the broker closes a connection silent for 1.5
    /// intervals: this leaves it 0.75 of an interval, not 0.5, for an event loop delayed on a busy device); a
    /// PINGRESP not back by the next one closes the connection.
    private func startKeepalive(channel: any Channel, every interval: Duration) {
        let nanos = Int64(interval.components.seconds) * 750_000_000
        channel.eventLoop.scheduleRepeatedTask(initialDelay: .nanoseconds(nanos), delay: .nanoseconds(nanos)) { task in
            let overdue = self.state.withLock { s -> Bool in
                if s.closed { return false }
                if s.awaitingPingResponse { return true }
                s.awaitingPingResponse = true
                return false
            }
            if self.isClosed {
                task.cancel()
            } else if overdue {
                self.recordError(MQTTConnectionError.timedOut("PINGRESP within the keepalive interval"))
                channel.close(promise: nil)
                task.cancel()
            } else {
                channel.writeAndFlush(MQTTPacket.pingreq, promise: nil)
            }
        }
    }

    // MARK: From the channel handler (event loop)

    /// Acts on a packet from the server; returns a packet to send back (PUBACK), if any.
    func received(_ packet: MQTTPacket) -> MQTTPacket? {
        switch packet {
        case .connack(_, let code):
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                defer { s.connack = nil }
                return s.connack
            }
            guard let c else {
                recordError(MQTTProtocolError("CONNACK when none was expected"))
                state.withLock { $0.closing = true }
                return nil
            }
            if code == 0 {
                c.resume()
            } else {
                state.withLock { $0.closing = true }
                c.resume(throwing: MQTTConnectionError.refused(returnCode: code))
            }
            return nil
        case .puback(let id), .unsuback(let id):
            state.withLock { $0.acks.removeValue(forKey: id) }?.resume(returning: [])
            return nil
        case .suback(let id, let codes):
            state.withLock { $0.acks.removeValue(forKey: id) }?.resume(returning: codes)
            return nil
        case .pingresp:
            state.withLock { $0.awaitingPingResponse = false }
            return nil
        case .publish(let p):
            inbound.yield(p)
            return p.qos == 1 ? .puback(packetId: p.packetId!) : nil
        case .connect, .subscribe, .unsubscribe, .pingreq, .disconnect:
            recordError(MQTTProtocolError("the server sent a client-only packet (type \(packet.typeCode))"))
            state.withLock { $0.closing = true }
            return nil
        }
    }

    func recordError(_ error: any Error) {
        state.withLock { s in
            if s.closeReason == nil { s.closeReason = "\(error)" }
        }
    }

    func channelClosed() {
        let (connack, acks, reason) = state.withLock { s -> (CheckedContinuation<Void, any Error>?, [CheckedContinuation<[UInt8], any Error>], String) in
            s.closed = true
            if s.closeReason == nil { s.closeReason = s.closing ? "closed by EdgeLog" : "closed by the server" }
            defer {
                s.connack = nil
                s.acks = [:]
            }
            return (s.connack, Array(s.acks.values), s.closeReason!)
        }
        connack?.resume(throwing: MQTTConnectionError.closed(reason: reason))
        for a in acks { a.resume(throwing: MQTTConnectionError.closed(reason: reason)) }
        inbound.finish()
    }
}

/// Runs `body`, throwing `timedOut` if it has not finished within `limit` (the body is cancelled).
func withDeadline<T: Sendable>(_ limit: Duration, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw MQTTConnectionError.timedOut(what)
        }
        return value
    }
}
