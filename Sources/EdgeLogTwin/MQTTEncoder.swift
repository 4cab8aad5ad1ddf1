/// Encodes MQTT 3.1.1 packets into bytes.
public enum MQTTEncoder {
    /// The largest remaining length MQTT can express (four bytes of 7 bits).
    public static let maxRemainingLength = 268_435_455

    /// Appends the variable-length "remaining length" (1 to 4 bytes, 7 bits each, low first).
    public static func appendRemainingLength(_ length: Int, to out: inout [UInt8]) throws(MQTTProtocolError) {
        guard length >= 0 && length <= maxRemainingLength else {
            throw MQTTProtocolError("remaining length \(length) is outside 0...\(maxRemainingLength)")
        }
        var value = length
        repeat {
            var byte = UInt8(value % 128)
            value /= 128
            if value > 0 { byte |= 0x80 }
            out.append(byte)
        } while value > 0
    }

    public static func encode(_ packet: MQTTPacket) throws(MQTTProtocolError) -> [UInt8] {
        var body: [UInt8] = []
        var flags: UInt8 = 0
        switch packet {
        case .connect(let c):
            try appendString("MQTT", to: &body)
            body.append(4)  // protocol level 3.1.1
            var connectFlags: UInt8 = c.cleanSession ? 0x02 : 0
            if c.username != nil { connectFlags |= 0x80 }
            if c.password != nil {
                guard c.username != nil else { throw MQTTProtocolError("a password needs a user name") }
                connectFlags |= 0x40
            }
            body.append(connectFlags)
            appendUInt16(c.keepAliveSeconds, to: &body)
            try appendString(c.clientId, to: &body)
            if let u = c.username { try appendString(u, to: &body) }
            if let p = c.password { try appendBytes(p, to: &body) }
        case .connack(let sessionPresent, let code):
            body = [sessionPresent ? 1 : 0, code]
        case .publish(let p):
            guard p.qos <= 2 else { throw MQTTProtocolError("QoS \(p.qos) does not exist") }
            flags = (p.duplicate ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0)
            try appendString(p.topic, to: &body)
            if p.qos > 0 {
                guard let id = p.packetId, id != 0 else { throw MQTTProtocolError("QoS \(p.qos) PUBLISH needs a packet id") }
                appendUInt16(id, to: &body)
            }
            body += p.payload
        case .puback(let id):
            appendUInt16(id, to: &body)
        case .subscribe(let id, let topics):
            guard !topics.isEmpty else { throw MQTTProtocolError("SUBSCRIBE needs at least one topic filter") }
            flags = 0x02
            appendUInt16(id, to: &body)
            for t in topics {
                try appendString(t.filter, to: &body)
                body.append(t.qos)
            }
        case .suback(let id, let codes):
            appendUInt16(id, to: &body)
            body += codes
        case .unsubscribe(let id, let filters):
            guard !filters.isEmpty else { throw MQTTProtocolError("UNSUBSCRIBE needs at least one topic filter") }
            flags = 0x02
            appendUInt16(id, to: &body)
            for f in filters { try appendString(f, to: &body) }
        case .unsuback(let id):
            appendUInt16(id, to: &body)
        case .pingreq, .pingresp, .disconnect:
            break
        }
        var out: [UInt8] = [packet.typeCode << 4 | flags]
        out.reserveCapacity(body.count + 5)
        try appendRemainingLength(body.count, to: &out)
        out += body
        return out
    }

    static func appendUInt16(_ v: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(v >> 8))
        out.append(UInt8(v & 0xFF))
    }

    static func appendString(_ s: String, to out: inout [UInt8]) throws(MQTTProtocolError) {
        try appendBytes(Array(s.utf8), to: &out)
    }

    static func appendBytes(_ b: [UInt8], to out: inout [UInt8]) throws(MQTTProtocolError) {
        guard b.count <= 65535 else { throw MQTTProtocolError("a string or binary field of \(b.count) bytes exceeds 65535") }
        appendUInt16(UInt16(b.count), to: &out)
        out += b
    }
}
