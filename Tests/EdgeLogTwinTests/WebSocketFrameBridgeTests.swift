import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import EdgeLogTwin

/// The client's frame bridge with the MQTT codec behind it, frame by frame.
@Suite struct WebSocketFrameBridgeTests {
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            WebSocketFrameBridge(),
            ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTDecoder())),
            MessageToByteHandler(MQTTFrameEncoder()),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        return channel
    }

    func frame(_ opcode: WebSocketOpcode, fin: Bool = true, _ bytes: some Sequence<UInt8>, mask: WebSocketMaskingKey? = nil) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, maskKey: mask, data: ByteBuffer(bytes: Array(bytes)))
    }

    func bytes(_ packets: [MQTTPacket]) throws -> [UInt8] {
        try packets.flatMap { try MQTTEncoder.encode($0) }
    }

    @Test func severalPacketsInOneFrame() throws {
        let channel = try channel()
        let packets: [MQTTPacket] = [
            .connack(sessionPresent: false, returnCode: 0),
            .suback(packetId: 1, returnCodes: [1, 0]),
            .publish(.init(topic: "t/a", payload: Array("zero".utf8))),
        ]
        try channel.writeInbound(frame(.binary, try bytes(packets)))
        for packet in packets {
            #expect(try channel.readInbound(as: MQTTPacket.self) == packet)
        }
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
    }

    @Test func onePacketSplitOverFrames() throws {
        let channel = try channel()
        let publish = MQTTPacket.publish(.init(
            topic: "$iothub/twin/res/200/?$rid=1", payload: [UInt8](repeating: 0x41, count: 300), qos: 1, packetId: 7))
        let b = try bytes([publish])
        // One fragmented message (binary + continuations), cut inside the remaining length and inside the body;
        // a ping between fragments is answered and changes nothing.
        try channel.writeInbound(frame(.binary, fin: false, b[0..<2]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        try channel.writeInbound(frame(.ping, [9]))
        try channel.writeInbound(frame(.continuation, fin: false, b[2..<100]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        try channel.writeInbound(frame(.continuation, fin: true, b[100...]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == publish)
        let pong = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(pong.opcode == .pong && pong.maskKey != nil && pong.data == ByteBuffer(bytes: [9]))
        // Whole messages are one byte stream too: a packet over two messages, the next one sharing the second.
        try channel.writeInbound(frame(.binary, b[0..<150]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        try channel.writeInbound(frame(.binary, b[150...] + [0xD0, 0x00]))
        #expect(try channel.readInbound(as: MQTTPacket.self) == publish)
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingresp)
        #expect(channel.isActive)
    }

    /// Outgoing frames carry the payload in the clear and a masking key; NIO's encoder masks on the wire.
    @Test func outgoingPacketsAreMaskedBinaryFrames() throws {
        let channel = try channel()
        try channel.writeOutbound(MQTTPacket.pingreq)
        let ping = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(ping.opcode == .binary && ping.fin && ping.maskKey != nil)
        #expect(ping.data == ByteBuffer(bytes: [0xC0, 0x00]))

        // On the wire: FIN + binary, the mask bit, the key, the masked packet.
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder(), position: .first)
        let packet = try bytes([.publish(.init(topic: "t", payload: [1, 2, 3]))])
        try channel.writeOutbound(MQTTPacket.publish(.init(topic: "t", payload: [1, 2, 3])))
        var wire: [UInt8] = []
        while var part = try channel.readOutbound(as: ByteBuffer.self) { wire += part.readBytes(length: part.readableBytes)! }
        #expect(wire.count == 2 + 4 + packet.count)
        #expect(wire[0] == 0x82 && wire[1] == 0x80 | UInt8(packet.count))
        let key = wire[2..<6]
        let unmasked = wire[6...].enumerated().map { $0.element ^ key[key.startIndex + $0.offset % 4] }
        #expect(unmasked == packet)
    }

    @Test(arguments: ["text", "masked", "stray continuation", "reserved bit", "new message inside a fragmented one"])
    func violationsCloseWithAProtocolError(_ violation: String) throws {
        let channel = try channel()
        let bad: [WebSocketFrame]
        switch violation {
        case "text": bad = [frame(.text, Array("{}".utf8))]
        case "masked": bad = [frame(.binary, [0xD0, 0x00], mask: [1, 2, 3, 4])]
        case "stray continuation": bad = [frame(.continuation, [0xD0, 0x00])]
        case "reserved bit":
            var f = frame(.binary, [0xD0, 0x00])
            f.rsv1 = true
            bad = [f]
        default: bad = [frame(.binary, fin: false, [0xD0]), frame(.binary, [0x00])]
        }
        for f in bad.dropLast() { try channel.writeInbound(f) }
        #expect(throws: MQTTConnectionError.self) { try channel.writeInbound(bad.last!) }
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose && close.maskKey != nil)
        #expect(close.data.getWebSocketErrorCode(at: close.data.readerIndex) == .protocolError)
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        #expect(!channel.isActive)
    }

    @Test func aCloseFrameIsAnsweredAndClosesTheChannel() throws {
        let channel = try channel()
        var code = ByteBuffer()
        code.write(webSocketErrorCode: .goingAway)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))
        let answer = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(answer.opcode == .connectionClose && answer.maskKey != nil && answer.data == code)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        #expect(!channel.isActive)
    }

    @Test func closingSendsANormalCloseFrame() throws {
        let channel = try channel()
        try channel.close().wait()
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose && close.maskKey != nil)
        #expect(close.data.getWebSocketErrorCode(at: close.data.readerIndex) == .normalClosure)
    }
}
