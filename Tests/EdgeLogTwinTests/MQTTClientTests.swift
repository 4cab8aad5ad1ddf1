import EdgeLogCore
import EdgeLogTestKit
import EdgeLogTwin
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

/// The MQTT client against a real mosquitto over TLS, and against a misbehaving server.
@Suite(.serialized) struct MQTTClientTests {
    @Test func publishSubscribeQoS0And1OverTLS() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let broker = try Mosquitto(directory: dir.path, certificates: certs)
        defer { broker.stop() }
        try await broker.waitReady()
        let client = try await MQTTConnection.connect(
            MQTTConnectOptions(host: "localhost", port: broker.port, trustRootsPEM: certs.caPEM, clientId: "dev/mod", keepAliveSeconds: 10))
        let granted = try await client.subscribe([("t/#", 1), ("u", 0)])
        #expect(granted == [1, 0])
        try await client.publish(topic: "t/a", payload: Array("zero".utf8), qos: 0)
        try await client.publish(topic: "t/b", payload: Array("one".utf8), qos: 1)
        var received: [String] = []
        for await m in client.messages {
            received.append(m.topic + "=" + String(decoding: m.payload, as: UTF8.self))
            if received.count == 2 { break }
        }
        #expect(received == ["t/a=zero", "t/b=one"])
        // Keepalive: PINGREQ/PINGRESP every 7.5 s (three quarters of the 10 s interval) keep the connection up. The
        // broker closes a connection silent for 1.5 intervals; shorter intervals were too short for the whole suite
        // on 2 busy cores.
        try await eventually("two PINGREQ answered by the broker") {
            let log = (try? FileSystem.read(dir.path + "/mosquitto.log", limit: 8 << 20)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            return log.components(separatedBy: "Sending PINGRESP to dev/mod").count - 1 >= 2
        }
        #expect(!client.isClosed)
        await client.disconnect()
        #expect(client.isClosed)
    }

    @Test func anUntrustedServerIsRefused() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let other = try TestCertificates(in: try dir.makeDirectory("other"))
        let broker = try Mosquitto(directory: dir.path, certificates: certs)
        defer { broker.stop() }
        try await broker.waitReady()
        await #expect(throws: (any Error).self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: broker.port, trustRootsPEM: other.caPEM, clientId: "x", connectTimeout: .seconds(10)))
        }
    }

    @Test func aMalformedPacketClosesTheConnectionWithoutCrashing() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let server = try await FakeBroker(certificates: certs, afterConnack: [0xF0, 0x00])
        let client = try await MQTTConnection.connect(
            MQTTConnectOptions(host: "localhost", port: server.port, trustRootsPEM: certs.caPEM, clientId: "dev/mod", username: "u", password: [1, 2]))
        await client.waitClosed()
        #expect(client.closeReason?.contains("not supported") == true)
        #expect(server.connects.first?.clientId == "dev/mod")
        #expect(server.connects.first?.password == [1, 2])
        await server.close()
    }

    @Test func anOversizePacketClosesTheConnection() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        var huge: [UInt8] = [0x30]
        try MQTTEncoder.appendRemainingLength(10_000_000, to: &huge)
        let server = try await FakeBroker(certificates: certs, afterConnack: huge)
        let client = try await MQTTConnection.connect(
            MQTTConnectOptions(host: "localhost", port: server.port, trustRootsPEM: certs.caPEM, clientId: "c", maxPacketBytes: 1000))
        await client.waitClosed()
        #expect(client.closeReason?.contains("exceeds the limit") == true)
        await server.close()
    }

    @Test func aRefusedConnectIsAnError() async throws {
        let dir = TemporaryDirectory()
        let certs = try TestCertificates(in: dir.path)
        let server = try await FakeBroker(certificates: certs, afterConnack: [], returnCode: 5)
        await #expect(throws: MQTTConnectionError.self) {
            _ = try await MQTTConnection.connect(
                MQTTConnectOptions(host: "localhost", port: server.port, trustRootsPEM: certs.caPEM, clientId: "c"))
        }
        await server.close()
    }
}

/// A TLS server that answers CONNECT with CONNACK and then sends the given bytes.
final class FakeBroker: Sendable {
    let channel: any Channel
    let port: Int
    var connects: [MQTTPacket.Connect] { box.connects.withLock { $0 } }

    init(certificates: TestCertificates, afterConnack: [UInt8], returnCode: UInt8 = 0) async throws {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.certFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.keyFile, format: .pem)))
        let context = try NIOSSLContext(configuration: tls)
        let box = ReceivedBox()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(Responder(afterConnack: afterConnack, returnCode: returnCode, box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
        self.box = box
    }
    let box: ReceivedBox

    func close() async { try? await channel.close() }

    final class ReceivedBox: Sendable { let connects = Mutex<[MQTTPacket.Connect]>([]) }

    final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let afterConnack: [UInt8]
        let returnCode: UInt8
        let box: ReceivedBox
        var buffer: [UInt8] = []
        init(afterConnack: [UInt8], returnCode: UInt8, box: ReceivedBox) {
            self.afterConnack = afterConnack
            self.returnCode = returnCode
            self.box = box
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            buffer += b.readBytes(length: b.readableBytes) ?? []
            while let packet = try? MQTTDecoder().next(from: &buffer) {
                if case .connect(let c) = packet {
                    box.connects.withLock { $0.append(c) }
                    var out = try! MQTTEncoder.encode(.connack(sessionPresent: false, returnCode: returnCode))
                    if returnCode == 0 { out += afterConnack }
                    context.writeAndFlush(NIOAny(ByteBuffer(bytes: out)), promise: nil)
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
