import NIOCore
import NIOWebSocket

/// The client side of MQTT over WebSocket (RFC 6455): every outgoing buffer becomes one masked binary frame;
/// the payloads of incoming binary frames and their continuations are passed on as bytes, whatever their
/// boundaries (the MQTT frame decoder after this handler reassembles packets). Pings are answered; a close
/// frame is answered and the channel closed. Text frames, masked frames from the server and other violations
/// close the connection with a protocol error (1002) and an error down the pipeline.
final class WebSocketFrameBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    /// Inside a fragmented binary message: continuation frames are expected.
    private var inBinaryMessage = false
    private var closeSent = false
    /// After a close frame or a violation: nothing more is read.
    private var done = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        let frame = unwrapInboundIn(data)
        guard frame.maskKey == nil else { return violation(context, "the server sent a masked frame") }
        guard !frame.rsv1 && !frame.rsv2 && !frame.rsv3 else {
            return violation(context, "the server set reserved bits that no extension was agreed for")
        }
        switch frame.opcode {
        case .binary:
            guard !inBinaryMessage else { return violation(context, "a new message began inside a fragmented one") }
            inBinaryMessage = !frame.fin
            forward(context, frame.data)
        case .continuation:
            guard inBinaryMessage else { return violation(context, "a continuation frame came outside a message") }
            inBinaryMessage = !frame.fin
            forward(context, frame.data)
        case .text:
            violation(context, "the server sent a text frame (MQTT travels in binary frames)")
        case .ping:
            context.writeAndFlush(wrapOutboundOut(Self.frame(.pong, frame.data)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            done = true
            var body = frame.data
            let code = body.readSlice(length: min(2, body.readableBytes)) ?? ByteBuffer()
            sendClose(context, code)
            context.close(promise: nil)
        default:
            violation(context, "the server sent a frame with the unknown opcode \(frame.opcode)")
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(Self.frame(.binary, unwrapOutboundIn(data))), promise: promise)
    }

    /// Says goodbye with a normal close frame before the connection closes.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, context.channel.isActive {
            var code = context.channel.allocator.buffer(capacity: 2)
            code.write(webSocketErrorCode: .normalClosure)
            sendClose(context, code)
        }
        context.close(mode: mode, promise: promise)
    }

    private func forward(_ context: ChannelHandlerContext, _ bytes: ByteBuffer) {
        if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
    }

    private func sendClose(_ context: ChannelHandlerContext, _ body: ByteBuffer) {
        guard !closeSent else { return }
        closeSent = true
        context.writeAndFlush(wrapOutboundOut(Self.frame(.connectionClose, body)), promise: nil)
    }

    private func violation(_ context: ChannelHandlerContext, _ what: String) {
        done = true
        var code = context.channel.allocator.buffer(capacity: 2)
        code.write(webSocketErrorCode: .protocolError)
        sendClose(context, code)
        context.fireErrorCaught(MQTTConnectionError.webSocket(what))
        context.close(promise: nil)
    }

    /// A final frame, masked with a fresh random key as RFC 6455 requires of clients.
    private static func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data)
    }
}
