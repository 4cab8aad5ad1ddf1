import EdgeLogCore
import EdgeLogTestKit
import EdgeLogTwin
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Testing

/// MQTT over WebSocket over TLS (`UpstreamProtocol=MqttWs`) against the real mosquitto, through a WebSocket
/// head that keeps edgeHub's contract (`WebSocketBridgeServer`): mosquitto here has no WebSocket listener.
@Suite(.serialized) struct MQTTWebSocketTests {
    static let webSocket = MQTTTransport.webSocket(path: MQTTTransport.iotHubWebSocketPath)

    /// `fragmentBytes`: the bridge cuts the broker's bytes into fragmented messages of 3-byte frames.
    @Test(arguments: [nil, 3] as [Int?])
    func publishSubscribeQoS0And1OverWebSocket(fragmentBytes: Int?) async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let broker = try Mosquitto(directory: dir.path, certificates: certs)
        defer { broker.stop() }
        try await broker.waitReady()
        let bridge = try await WebSocketBridgeServer(certificates: certs, brokerPort: broker.port, fragmentBytes: fragmentBytes)
        let client = try await MQTTConnection.connect(
            MQTTConnectOptions(
                host: "localhost", port: bridge.port, transport: Self.webSocket, trustRootsPEM: certs.caPEM, clientId: "dev/mod",
                keepAliveSeconds: 6))
        let granted = try await client.subscribe([("t/#", 1), ("u", 0)])
        #expect(granted == [1, 0])
        let big = (0..<20_000).map { UInt8($0 % 251) }
        try await client.publish(topic: "t/a", payload: Array("zero".utf8), qos: 0)
        try await client.publish(topic: "t/b", payload: Array("one".utf8), qos: 1)
        try await client.publish(topic: "t/big", payload: big, qos: 1)
        var received: [MQTTPacket.Publish] = []
        for await m in client.messages {
            received.append(m)
            if received.count == 3 { break }
        }
        #expect(received.map(\.topic) == ["t/a", "t/b", "t/big"])
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) }.prefix(2) == ["zero", "one"])
        #expect(received.last?.payload == big)
        // Keepalive through the WebSocket: PINGREQ/PINGRESP every 6 s keep the connection up (an answer later than
        // one interval closes it; a PINGRESP can queue behind thousands of 3-byte frames on a loaded machine).
        try await eventually("two PINGREQ answered by the broker") { Self.log(dir).components(separatedBy: "Sending PINGRESP to dev/mod").count - 1 >= 2 }
        #expect(!client.isClosed)
        await client.disconnect()
        #expect(client.isClosed)
        try await eventually("the DISCONNECT reached the broker") { Self.log(dir).contains("Received DISCONNECT from dev/mod") }
        #expect(bridge.stats.upgrades == 1)
        #expect(bridge.stats.violations.isEmpty)
        #expect(bridge.stats.bytesToBroker > big.count)
        await bridge.close()
    }

    @Test func aWrongPathIsRefusedWithAClearError() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let bridge = try await WebSocketBridgeServer(certificates: certs, brokerPort: try freePort())
        let error = await #expect(throws: MQTTConnectionError.self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: bridge.port, transport: .webSocket(path: "/mqtt"), trustRootsPEM: certs.caPEM, clientId: "c"))
        }
        #expect(error?.description == "WebSocket: the server answered the upgrade of /mqtt with HTTP 404 Not Found")
        #expect(bridge.stats.refusals == [404])
        #expect(bridge.stats.upgrades == 0)
        await bridge.close()
    }

    @Test func anotherSubprotocolInTheAnswerIsRefused() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let bridge = try await WebSocketBridgeServer(certificates: certs, brokerPort: try freePort(), answerSubprotocol: "mqttv5")
        let error = await #expect(throws: MQTTConnectionError.self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: bridge.port, transport: Self.webSocket, trustRootsPEM: certs.caPEM, clientId: "c"))
        }
        #expect(error?.description.contains("chose the subprotocol mqttv5 instead of mqtt") == true)
        await bridge.close()
    }

    @Test func anUntrustedServerIsRefused() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let other = try TestCertificates(in: try dir.makeDirectory("other"))
        let bridge = try await WebSocketBridgeServer(certificates: certs, brokerPort: try freePort())
        await #expect(throws: MQTTConnectionError.self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: bridge.port, transport: Self.webSocket, trustRootsPEM: other.caPEM, clientId: "c", connectTimeout: .seconds(10)))
        }
        #expect(bridge.stats.upgrades == 0 && bridge.stats.refusals.isEmpty)
        await bridge.close()
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        // A TLS server that reads the upgrade request and says nothing.
        let silent = try await FakeBroker(certificates: certs, afterConnack: [])
        let started = ContinuousClock.now
        let error = await #expect(throws: MQTTConnectionError.self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: silent.port, transport: Self.webSocket, trustRootsPEM: certs.caPEM, clientId: "c", connectTimeout: .seconds(2)))
        }
        #expect(error?.description == "timed out waiting for the WebSocket upgrade")
        #expect(ContinuousClock.now - started < .seconds(10))
        await silent.close()
    }

    // MARK: The test bridge keeps edgeHub's contract

    @Test func theBridgeRefusesRequestsOutsideTheContract() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let broker = try Mosquitto(directory: dir.path, certificates: certs)
        defer { broker.stop() }
        try await broker.waitReady()
        let bridge = try await WebSocketBridgeServer(certificates: certs, brokerPort: broker.port)
        #expect(try await upgradeStatus(port: bridge.port, trust: certs.caPEM, path: "/$iothub/websocket", subprotocol: nil) == 400)
        #expect(try await upgradeStatus(port: bridge.port, trust: certs.caPEM, path: "/$iothub/websocket", subprotocol: "mqttv5") == 400)
        #expect(try await upgradeStatus(port: bridge.port, trust: certs.caPEM, path: "/", subprotocol: "mqtt") == 404)
        #expect(try await upgradeStatus(port: bridge.port, trust: certs.caPEM, path: "/$iothub/websocket", subprotocol: "mqtt") == 101)
        #expect(bridge.stats.refusals == [400, 400, 404])
        await bridge.close()
    }

    @Test(arguments: ["unmasked", "text"])
    func theBridgeClosesOnUnmaskedOrTextFrames(_ violation: String) throws {
        let broker = EmbeddedChannel()
        try broker.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8883)).wait()
        let stats = WebSocketBridgeServer.StatsBox()
        let front = EmbeddedChannel(handler: WebSocketBridgeServer.ClientToBroker(broker: broker, stats: stats))
        try front.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        // A proper frame passes, unmasked.
        try front.writeInbound(WebSocketFrame(fin: true, opcode: .binary, maskKey: [7, 7, 7, 7], data: ByteBuffer(bytes: [0xC0 ^ 7, 0x00 ^ 7])))
        #expect(try broker.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xC0, 0x00]))
        let bad = violation == "text"
            ? WebSocketFrame(fin: true, opcode: .text, maskKey: [0, 0, 0, 0], data: ByteBuffer(string: "{}"))
            : WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [0xC0, 0x00]))
        try front.writeInbound(bad)
        #expect(try broker.readOutbound(as: ByteBuffer.self) == nil)
        let close = try #require(try front.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose && close.maskKey == nil)
        #expect(close.data.getWebSocketErrorCode(at: close.data.readerIndex) == .protocolError)
        #expect(!front.isActive && !broker.isActive)
        #expect(stats.state.withLock { $0.violations.count } == 1)
    }

    static func log(_ dir: TemporaryDirectory) -> String {
        (try? FileSystem.read(dir.path + "/mosquitto.log", limit: 8 << 20)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// The status a hand-made WebSocket upgrade request gets (with the given subprotocol, if any).
func upgradeStatus(port: Int, trust: [UInt8], path: String, subprotocol: String?) async throws -> UInt {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(trust))
    let context = try NIOSSLContext(configuration: tls)
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let status = loop.makePromise(of: UInt.self)
    let channel = try await ClientBootstrap(group: loop)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(StatusReader(status: status))
            }
        }
        .connect(host: "localhost", port: port).get()
    var headers: HTTPHeaders = [
        "Host": "localhost", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": NIOWebSocketClientUpgrader.randomRequestKey(), "Sec-WebSocket-Version": "13",
    ]
    if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
    channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    defer { channel.close(promise: nil) }
    return try await status.futureResult.get()
}

final class StatusReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let status: EventLoopPromise<UInt>
    init(status: EventLoopPromise<UInt>) { self.status = status }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) { status.succeed(head.status.code) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        status.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        status.fail(HarnessError("closed before a response"))
        context.fireChannelInactive()
    }
}
