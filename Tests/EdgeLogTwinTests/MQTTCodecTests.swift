import Testing
@testable import EdgeLogTwin

@Suite struct MQTTCodecTests {
    static let lengthCases: [(Int, [UInt8])] = [
        (0, [0x00]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (16383, [0xFF, 0x7F]),
        (16384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]),
        (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test func remainingLengthEdgeCases() throws {
        for (value, bytes) in Self.lengthCases {
            var out: [UInt8] = []
            try MQTTEncoder.appendRemainingLength(value, to: &out)
            #expect(out == bytes, "encoding \(value)")
            #expect(try MQTTDecoder.remainingLength(bytes) == .complete(value: value, byteCount: bytes.count), "decoding \(value)")
            // Every proper prefix asks for more bytes.
            for cut in 0..<bytes.count {
                #expect(try MQTTDecoder.remainingLength(Array(bytes.prefix(cut))) == .needMoreBytes)
            }
        }
    }

    @Test func remainingLengthOutOfRange() {
        var out: [UInt8] = []
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.appendRemainingLength(268_435_456, to: &out) }
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.appendRemainingLength(-1, to: &out) }
        #expect(throws: MQTTProtocolError.self) { try MQTTDecoder.remainingLength([0xFF, 0xFF, 0xFF, 0xFF, 0x01]) }
    }

    static let packets: [MQTTPacket] = [
        .connect(.init(clientId: "dev/mod", username: "hub/dev/mod/?api-version=2021-04-12", password: Array("SharedAccessSignature x".utf8), keepAliveSeconds: 30)),
        .connect(.init(clientId: "anon", keepAliveSeconds: 0, cleanSession: false)),
        .connack(sessionPresent: false, returnCode: 0),
        .connack(sessionPresent: true, returnCode: 5),
        .publish(.init(topic: "$iothub/twin/GET/?$rid=1", payload: [])),
        .publish(.init(topic: "a/b", payload: Array("héllo".utf8), qos: 1, retain: true, duplicate: true, packetId: 7)),
        .puback(packetId: 65535),
        .subscribe(packetId: 1, topics: [("$iothub/twin/res/#", 0), ("$iothub/methods/POST/#", 1)]),
        .suback(packetId: 1, returnCodes: [0, 1, 0x80]),
        .unsubscribe(packetId: 3, filters: ["a/#"]),
        .unsuback(packetId: 3),
        .pingreq,
        .pingresp,
        .disconnect,
    ]

    @Test func everyPacketTypeRoundTrips() throws {
        for packet in Self.packets {
            var bytes = try MQTTEncoder.encode(packet)
            let decoded = try MQTTDecoder().next(from: &bytes)
            #expect(decoded == packet)
            #expect(bytes.isEmpty)
        }
    }

    @Test func knownWireBytes() throws {
        #expect(try MQTTEncoder.encode(.pingreq) == [0xC0, 0x00])
        #expect(try MQTTEncoder.encode(.pingresp) == [0xD0, 0x00])
        #expect(try MQTTEncoder.encode(.disconnect) == [0xE0, 0x00])
        #expect(try MQTTEncoder.encode(.puback(packetId: 0x0102)) == [0x40, 0x02, 0x01, 0x02])
        #expect(try MQTTEncoder.encode(.subscribe(packetId: 10, topics: [("a", 1)])) == [0x82, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x61, 0x01])
        #expect(
            try MQTTEncoder.encode(.connect(.init(clientId: "c", keepAliveSeconds: 60)))
                == [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63])
        #expect(try MQTTEncoder.encode(.publish(.init(topic: "t", payload: [0x41], qos: 1, packetId: 2))) == [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x02, 0x41])
    }

    @Test func largePublishUsesMultiByteLengths() throws {
        for size in [200, 20_000, 2_100_000] {
            let packet = MQTTPacket.publish(.init(topic: "t", payload: Array(repeating: 7, count: size)))
            var bytes = try MQTTEncoder.encode(packet)
            #expect(try MQTTDecoder(maxPacketBytes: 4 << 20).next(from: &bytes) == packet)
        }
    }

    @Test func streamingByteByByte() throws {
        var stream: [UInt8] = []
        for p in Self.packets { stream += try MQTTEncoder.encode(p) }
        let decoder = MQTTDecoder()
        var buffer: [UInt8] = []
        var out: [MQTTPacket] = []
        for b in stream {
            buffer.append(b)
            while let p = try decoder.next(from: &buffer) { out.append(p) }
        }
        #expect(out == Self.packets)
        #expect(buffer.isEmpty)
    }

    @Test func oversizePacketIsRefusedBeforeItsBody() {
        var buffer: [UInt8] = [0x30]
        try! MQTTEncoder.appendRemainingLength(1_000_000, to: &buffer)
        #expect(throws: MQTTProtocolError.self) { try MQTTDecoder(maxPacketBytes: 1000).next(from: &buffer) }
    }

    @Test func malformedPacketsThrow() {
        let bad: [[UInt8]] = [
            [0x00, 0x00],  // type 0 is reserved
            [0xF0, 0x00],  // type 15 is reserved
            [0xC1, 0x00],  // PINGREQ with flags
            [0x80, 0x02, 0x00, 0x01],  // SUBSCRIBE with wrong flags
            [0x82, 0x02, 0x00, 0x01],  // SUBSCRIBE without topics
            [0x36, 0x03, 0x00, 0x01, 0x74],  // PUBLISH with QoS 3
            [0x32, 0x03, 0x00, 0x01, 0x74],  // QoS 1 PUBLISH without packet id
            [0x30, 0x03, 0x00, 0x05, 0x74],  // topic length past the end
            [0x30, 0x03, 0x00, 0x01, 0x23],  // topic with a wildcard
            [0x30, 0x04, 0x00, 0x02, 0xC3, 0x28],  // topic not UTF-8
            [0x20, 0x03, 0x00, 0x00, 0x00],  // CONNACK with a trailing byte
            [0x20, 0x02, 0x02, 0x00],  // CONNACK with reserved flags
            [0x90, 0x03, 0x00, 0x01, 0x03],  // SUBACK with return code 3
            [0xD0, 0x01, 0x00],  // PINGRESP with a body
            [0x40, 0x01, 0x00],  // PUBACK too short
        ]
        for bytes in bad {
            var buffer = bytes
            #expect(throws: MQTTProtocolError.self, "\(bytes)") { try MQTTDecoder().next(from: &buffer) }
        }
    }

    @Test func encoderRefusesImpossiblePackets() {
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.encode(.publish(.init(topic: "t", payload: [], qos: 1))) }
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.encode(.subscribe(packetId: 1, topics: [])) }
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.encode(.publish(.init(topic: String(repeating: "a", count: 70_000), payload: []))) }
        #expect(throws: MQTTProtocolError.self) { try MQTTEncoder.encode(.connect(.init(clientId: "c", password: [1]))) }
    }
}
