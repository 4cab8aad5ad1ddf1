import NIOCore

/// Frames MQTT packets out of the TLS byte stream. A malformed or oversize packet is an error: the
/// connection handler closes the channel.
struct MQTTFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = MQTTPacket
    let decoder: MQTTDecoder

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let readable = buffer.readableBytesView
        guard readable.count >= 2 else { return .needMoreData }
        guard case .complete(let length, let lengthBytes) = try MQTTDecoder.remainingLength(readable, from: 1) else {
            return .needMoreData
        }
        if length > decoder.maxPacketBytes {
            throw MQTTProtocolError("packet of \(length) bytes exceeds the limit of \(decoder.maxPacketBytes)")
        }
        let total = 1 + lengthBytes + length
        guard readable.count >= total else { return .needMoreData }
        let first = buffer.readInteger(as: UInt8.self)!
        buffer.moveReaderIndex(forwardBy: lengthBytes)
        let body = buffer.readBytes(length: length)!
        let packet = try MQTTDecoder.decode(first: first, body: body[...])
        context.fireChannelRead(wrapInboundOut(packet))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

struct MQTTFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = MQTTPacket

    func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        out.writeBytes(try MQTTEncoder.encode(data))
    }
}

/// Hands every decoded packet to the connection and closes the channel on any error (never crashes).
final class MQTTConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = MQTTPacket
    let connection: MQTTConnection

    init(connection: MQTTConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        if let reply = connection.received(packet) {
            context.writeAndFlush(NIOAny(reply), promise: nil)
        }
        if connection.isClosing { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.recordError(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelClosed()
        context.fireChannelInactive()
    }
}
