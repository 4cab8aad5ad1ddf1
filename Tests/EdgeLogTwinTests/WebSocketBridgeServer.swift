import EdgeLogTwin
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// edgeHub's WebSocket head in front of the real broker: TLS with the test certificates, then an HTTP upgrade
/// that only accepts `/$iothub/websocket` with the subprotocol `mqtt` (404 for another path, 400 without the
/// subprotocol). After the upgrade the payloads of the client's binary frames go to mosquitto's TLS listener
/// and the broker's bytes come back in unmasked binary frames. Unmasked client frames and text frames close
/// the connection with a protocol error (1002).
final class WebSocketBridgeServer: Sendable {
    static let path = "/$iothub/websocket"

    struct Stats {
        var upgrades = 0
        var refusals: [UInt] = []
        var violations: [String] = []
        var bytesToBroker = 0
    }
    final class StatsBox: Sendable { let state = Mutex(Stats()) }

    let channel: any Channel
    let port: Int
    let statsBox: StatsBox
    var stats: Stats { statsBox.state.withLock { $0 } }

    /// `answerSubprotocol`: what the 101 response names (edgeHub: `mqtt`). `fragmentBytes`: send the broker's
    /// bytes as fragmented messages of frames this large (a binary frame and continuations).
    init(certificates: TestCertificates, brokerPort: Int, answerSubprotocol: String? = "mqtt", fragmentBytes: Int? = nil) async throws {
        let serverTLS = try NIOSSLContext(configuration: TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.certFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.keyFile, format: .pem))))
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates.caFile))
        let brokerTLS = try NIOSSLContext(configuration: client)
        let stats = StatsBox()
        statsBox = stats

        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 20,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                let offered = head.headers["Sec-WebSocket-Protocol"].flatMap { $0.split(separator: ",") }
                    .map { String($0.filter { !$0.isWhitespace }) }
                guard path == Self.path, offered.contains("mqtt") else { return channel.eventLoop.makeSucceededFuture(nil) }
                var headers = HTTPHeaders()
                if let answerSubprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: answerSubprotocol) }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, _ in
                ClientBootstrap(group: channel.eventLoop)
                    .channelInitializer { broker in
                        broker.eventLoop.makeCompletedFuture {
                            try broker.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: brokerTLS, serverHostname: "localhost"))
                            try broker.pipeline.syncOperations.addHandler(BrokerToClient(client: channel, fragmentBytes: fragmentBytes))
                        }
                    }
                    .connect(host: "127.0.0.1", port: brokerPort)
                    .flatMapThrowing { broker in
                        try channel.pipeline.syncOperations.addHandler(ClientToBroker(broker: broker, stats: stats))
                        stats.state.withLock { $0.upgrades += 1 }
                    }
            })
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverTLS))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                if let refuser = try? context.pipeline.syncOperations.context(handlerType: Refuser.self) {
                                    context.pipeline.syncOperations.removeHandler(context: refuser, promise: nil)
                                }
                            }
                        ))
                    try channel.pipeline.syncOperations.addHandler(Refuser(stats: stats))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func close() async { try? await channel.close() }

    /// Answers every request that was not upgraded, like edgeHub: 404 for another path, 400 otherwise.
    final class Refuser: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let stats: StatsBox
        init(stats: StatsBox) { self.stats = stats }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let status: HTTPResponseStatus = path == WebSocketBridgeServer.path ? .badRequest : .notFound
            stats.state.withLock { $0.refusals.append(status.code) }
            let response = HTTPResponseHead(version: .http1_1, status: status, headers: ["Content-Length": "0", "Connection": "close"])
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A refused upgrade is reported as an error before the request arrives here; the answer follows.
            if error is NIOWebSocketUpgradeError { return }
            context.close(promise: nil)
        }
    }

    /// The client's frames: masked binary payloads go to the broker; anything else that carries data is refused.
    final class ClientToBroker: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let broker: any Channel
        let stats: StatsBox
        init(broker: any Channel, stats: StatsBox) {
            self.broker = broker
            self.stats = stats
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            guard frame.maskKey != nil else { return violation(context, "unmasked client frame") }
            switch frame.opcode {
            case .binary, .continuation:
                let payload = frame.unmaskedData
                stats.state.withLock { $0.bytesToBroker += payload.readableBytes }
                broker.writeAndFlush(payload, promise: nil)
            case .ping:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            case .pong:
                break
            case .connectionClose:
                var body = frame.unmaskedData
                let code = body.readSlice(length: min(2, body.readableBytes)) ?? ByteBuffer()
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                    .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            default:
                violation(context, "\(frame.opcode) frame")
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            broker.close(promise: nil)
            context.fireChannelInactive()
        }

        private func violation(_ context: ChannelHandlerContext, _ what: String) {
            stats.state.withLock { $0.violations.append(what) }
            var code = context.channel.allocator.buffer(capacity: 2)
            code.write(webSocketErrorCode: .protocolError)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The broker's bytes, in unmasked binary frames (fragmented if asked); the broker closing closes the client.
    final class BrokerToClient: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let client: any Channel
        let fragmentBytes: Int?
        init(client: any Channel, fragmentBytes: Int?) {
            self.client = client
            self.fragmentBytes = fragmentBytes
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            guard let size = fragmentBytes else {
                client.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, data: bytes), promise: nil)
                return
            }
            var opcode = WebSocketOpcode.binary
            while bytes.readableBytes > 0 {
                let piece = bytes.readSlice(length: min(size, bytes.readableBytes))!
                client.write(WebSocketFrame(fin: bytes.readableBytes == 0, opcode: opcode, data: piece), promise: nil)
                opcode = .continuation
            }
            client.flush()
        }

        func channelInactive(context: ChannelHandlerContext) {
            client.close(promise: nil)
            context.fireChannelInactive()
        }
    }
}
