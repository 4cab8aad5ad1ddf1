/// How MQTT packets travel to the server: straight over TLS (`UpstreamProtocol=Mqtt`, edgeHub's port 8883), or
/// in binary WebSocket messages over TLS (`UpstreamProtocol=MqttWs`, port 443).
public enum MQTTTransport: Sendable, Equatable {
    case tcp
    /// An HTTP/1.1 upgrade to WebSocket on `path`, asking for the subprotocol `mqtt`.
    case webSocket(path: String)

    /// edgeHub's (and IoT Hub's) MQTT-over-WebSocket endpoint.
    public static let iotHubWebSocketPath = "/$iothub/websocket"
    /// The WebSocket subprotocol for MQTT 3.1.1.
    public static let webSocketSubprotocol = "mqtt"
}
