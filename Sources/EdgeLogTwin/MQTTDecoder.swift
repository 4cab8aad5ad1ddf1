/// Decodes MQTT 3.1.1 packets from a byte stream. Pure: feed it bytes, take whole packets out.
/// Any violation throws `MQTTProtocolError`; the caller closes the connection.
public struct MQTTDecoder: Sendable {
    /// Packets larger than this (remaining length) are refused before their body arrives.
    public let maxPacketBytes: Int

    public init(maxPacketBytes: Int = 256 * 1024) {
        self.maxPacketBytes = maxPacketBytes
    }

    public enum RemainingLength: Equatable {
        case needMoreBytes
        case complete(value: Int, byteCount: Int)
    }

    /// Reads a remaining length at `start`. Throws if it runs over four bytes.
    public static func remainingLength(_ bytes: some Collection<UInt8>, from start: Int = 0) throws(MQTTProtocolError) -> RemainingLength {
        var value = 0
        var multiplier = 1
        var count = 0
        var index = bytes.index(bytes.startIndex, offsetBy: start)
        while true {
            guard index != bytes.endIndex else { return .needMoreBytes }
            let byte = bytes[index]
            count += 1
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return .complete(value: value, byteCount: count) }
            if count == 4 { throw MQTTProtocolError("remaining length longer than four bytes") }
            multiplier *= 128
            index = bytes.index(after: index)
        }
    }

    /// Takes one whole packet from the front of `buffer`, or returns nil (and leaves it) if more bytes are needed.
    public func next(from buffer: inout [UInt8]) throws(MQTTProtocolError) -> MQTTPacket? {
        guard buffer.count >= 2 else { return nil }
        guard case .complete(let length, let lengthBytes) = try Self.remainingLength(buffer, from: 1) else { return nil }
        if length > maxPacketBytes {
            throw MQTTProtocolError("packet of \(length) bytes exceeds the limit of \(maxPacketBytes)")
        }
        let total = 1 + lengthBytes + length
        guard buffer.count >= total else { return nil }
        let packet = try Self.decode(first: buffer[0], body: buffer[(1 + lengthBytes)..<total])
        buffer.removeFirst(total)
        return packet
    }

    /// Decodes one packet from its first byte and its body (everything after the remaining length).
    public static func decode(first: UInt8, body: ArraySlice<UInt8>) throws(MQTTProtocolError) -> MQTTPacket {
        var r = Reader(bytes: body)
        let type = first >> 4
        let flags = first & 0x0F
        func expectFlags(_ expected: UInt8, _ name: String) throws(MQTTProtocolError) {
            guard flags == expected else { throw MQTTProtocolError("\(name) with reserved flags \(flags)") }
        }
        let packet: MQTTPacket
        switch type {
        case 1:
            try expectFlags(0, "CONNECT")
            guard try r.string() == "MQTT" else { throw MQTTProtocolError("CONNECT for an unknown protocol name") }
            guard try r.byte() == 4 else { throw MQTTProtocolError("CONNECT for a protocol level other than 3.1.1") }
            let cf = try r.byte()
            guard cf & 0x01 == 0 else { throw MQTTProtocolError("CONNECT with the reserved flag set") }
            guard cf & 0x04 == 0 else { throw MQTTProtocolError("CONNECT with a will, which EdgeLog does not read") }
            let keepAlive = try r.uint16()
            let clientId = try r.string()
            let username = cf & 0x80 != 0 ? try r.string() : nil
            let password = cf & 0x40 != 0 ? try r.binary() : nil
            packet = .connect(.init(clientId: clientId, username: username, password: password, keepAliveSeconds: keepAlive, cleanSession: cf & 0x02 != 0))
        case 2:
            try expectFlags(0, "CONNACK")
            let ack = try r.byte()
            guard ack & 0xFE == 0 else { throw MQTTProtocolError("CONNACK with reserved acknowledge flags") }
            packet = .connack(sessionPresent: ack == 1, returnCode: try r.byte())
        case 3:
            let qos = (flags >> 1) & 0x03
            guard qos != 3 else { throw MQTTProtocolError("PUBLISH with QoS 3") }
            let topic = try r.string()
            guard !topic.contains("+") && !topic.contains("#") else { throw MQTTProtocolError("PUBLISH to a topic with wildcards") }
            var id: UInt16? = nil
            if qos > 0 {
                id = try r.uint16()
                guard id != 0 else { throw MQTTProtocolError("PUBLISH with packet id 0") }
            }
            packet = .publish(.init(topic: topic, payload: r.rest(), qos: qos, retain: flags & 1 != 0, duplicate: flags & 8 != 0, packetId: id))
        case 4:
            try expectFlags(0, "PUBACK")
            packet = .puback(packetId: try r.uint16())
        case 8:
            try expectFlags(2, "SUBSCRIBE")
            let id = try r.uint16()
            var topics: [(filter: String, qos: UInt8)] = []
            while !r.atEnd {
                let filter = try r.string()
                let qos = try r.byte()
                guard qos <= 2 else { throw MQTTProtocolError("SUBSCRIBE with QoS \(qos)") }
                topics.append((filter, qos))
            }
            guard !topics.isEmpty else { throw MQTTProtocolError("SUBSCRIBE without a topic filter") }
            packet = .subscribe(packetId: id, topics: topics)
        case 9:
            try expectFlags(0, "SUBACK")
            let id = try r.uint16()
            let codes = r.rest()
            guard !codes.isEmpty, codes.allSatisfy({ $0 <= 2 || $0 == 0x80 }) else {
                throw MQTTProtocolError("SUBACK with invalid return codes")
            }
            packet = .suback(packetId: id, returnCodes: codes)
        case 10:
            try expectFlags(2, "UNSUBSCRIBE")
            let id = try r.uint16()
            var filters: [String] = []
            while !r.atEnd { filters.append(try r.string()) }
            guard !filters.isEmpty else { throw MQTTProtocolError("UNSUBSCRIBE without a topic filter") }
            packet = .unsubscribe(packetId: id, filters: filters)
        case 11:
            try expectFlags(0, "UNSUBACK")
            packet = .unsuback(packetId: try r.uint16())
        case 12:
            try expectFlags(0, "PINGREQ")
            packet = .pingreq
        case 13:
            try expectFlags(0, "PINGRESP")
            packet = .pingresp
        case 14:
            try expectFlags(0, "DISCONNECT")
            packet = .disconnect
        default:
            throw MQTTProtocolError("packet type \(type) is not supported")
        }
        guard r.atEnd else { throw MQTTProtocolError("packet type \(type) has \(r.remaining) unexpected trailing bytes") }
        return packet
    }

    struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        var atEnd: Bool { index == bytes.endIndex }
        var remaining: Int { bytes.endIndex - index }

        mutating func byte() throws(MQTTProtocolError) -> UInt8 {
            guard index < bytes.endIndex else { throw MQTTProtocolError("packet ends early") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func uint16() throws(MQTTProtocolError) -> UInt16 {
            let hi = try byte()
            return UInt16(hi) << 8 | UInt16(try byte())
        }

        mutating func binary() throws(MQTTProtocolError) -> [UInt8] {
            let n = Int(try uint16())
            guard remaining >= n else { throw MQTTProtocolError("field of \(n) bytes runs past the packet end") }
            defer { index += n }
            return Array(bytes[index..<index + n])
        }

        mutating func string() throws(MQTTProtocolError) -> String {
            let b = try binary()
            guard let s = String(validating: b, as: UTF8.self) else { throw MQTTProtocolError("string is not valid UTF-8") }
            guard !s.utf8.contains(0) else { throw MQTTProtocolError("string contains U+0000") }
            return s
        }

        mutating func rest() -> [UInt8] {
            defer { index = bytes.endIndex }
            return Array(bytes[index...])
        }
    }
}
