/// MQTT 3.1.1 control packets, as EdgeLog sends and receives them. Pure values: no I/O.
public enum MQTTPacket: Sendable, Equatable {
    case connect(Connect)
    case connack(sessionPresent: Bool, returnCode: UInt8)
    case publish(Publish)
    case puback(packetId: UInt16)
    case subscribe(packetId: UInt16, topics: [(filter: String, qos: UInt8)])
    case suback(packetId: UInt16, returnCodes: [UInt8])
    case unsubscribe(packetId: UInt16, filters: [String])
    case unsuback(packetId: UInt16)
    case pingreq
    case pingresp
    case disconnect

    public struct Connect: Sendable, Equatable {
        public var clientId: String
        public var username: String?
        public var password: [UInt8]?
        public var keepAliveSeconds: UInt16
        public var cleanSession: Bool

        public init(clientId: String, username: String? = nil, password: [UInt8]? = nil, keepAliveSeconds: UInt16 = 60, cleanSession: Bool = true) {
            self.clientId = clientId
            self.username = username
            self.password = password
            self.keepAliveSeconds = keepAliveSeconds
            self.cleanSession = cleanSession
        }
    }

    public struct Publish: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: UInt8
        public var retain: Bool
        public var duplicate: Bool
        /// Present for QoS 1 and 2.
        public var packetId: UInt16?

        public init(topic: String, payload: [UInt8], qos: UInt8 = 0, retain: Bool = false, duplicate: Bool = false, packetId: UInt16? = nil) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.duplicate = duplicate
            self.packetId = packetId
        }
    }

    /// The fixed header's packet type (high nibble of the first byte).
    public var typeCode: UInt8 {
        switch self {
        case .connect: return 1
        case .connack: return 2
        case .publish: return 3
        case .puback: return 4
        case .subscribe: return 8
        case .suback: return 9
        case .unsubscribe: return 10
        case .unsuback: return 11
        case .pingreq: return 12
        case .pingresp: return 13
        case .disconnect: return 14
        }
    }

    public static func == (lhs: MQTTPacket, rhs: MQTTPacket) -> Bool {
        switch (lhs, rhs) {
        case (.connect(let a), .connect(let b)): return a == b
        case (.connack(let a1, let a2), .connack(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.publish(let a), .publish(let b)): return a == b
        case (.puback(let a), .puback(let b)): return a == b
        case (.subscribe(let a1, let a2), .subscribe(let b1, let b2)):
            return a1 == b1 && a2.count == b2.count && zip(a2, b2).allSatisfy { $0.filter == $1.filter && $0.qos == $1.qos }
        case (.suback(let a1, let a2), .suback(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.unsubscribe(let a1, let a2), .unsubscribe(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.unsuback(let a), .unsuback(let b)): return a == b
        case (.pingreq, .pingreq), (.pingresp, .pingresp), (.disconnect, .disconnect): return true
        default: return false
        }
    }
}

/// A violation of MQTT 3.1.1 by the peer (or by a caller handing the encoder an impossible packet).
public struct MQTTProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "MQTT protocol error: \(reason)" }
}
