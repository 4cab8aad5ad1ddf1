/// How EdgeLog reaches edgeHub, read from the environment: the IoT Edge runtime's `IOTEDGE_*` variables
/// (sign with the workload API), or `EdgeHubConnectionString` + `EdgeModuleCACertificateFile` for development
/// without an edge runtime (sign locally). Neither: nil, and EdgeLog runs from its config file alone.
public struct EdgeEnvironment: Sendable, Equatable {
    public enum Credentials: Sendable, Equatable {
        /// The workload API signs with the module's key; the trust bundle comes from it too.
        case workload(socketPath: String, generationId: String, apiVersion: String)
        /// A shared access key from a connection string; the CA certificate from a file.
        case sharedAccessKey(keyBase64: String, caCertificateFile: String)
    }

    /// `UpstreamProtocol`: MQTT over TLS on 8883, or MQTT over WebSocket over TLS on 443.
    public enum Transport: String, Sendable, Equatable {
        case mqtt = "Mqtt"
        case mqttWebSocket = "MqttWs"

        /// edgeHub's port for this protocol (`EDGELOG_EDGEHUB_PORT` overrides it).
        public var defaultPort: Int {
            switch self {
            case .mqtt: 8883
            case .mqttWebSocket: 443
            }
        }
    }

    public var hubHostName: String
    public var deviceId: String
    public var moduleId: String
    public var gatewayHostName: String
    public var port: Int
    public var transport: Transport
    public var credentials: Credentials
    /// Warnings for the log (unsupported protocols, fallbacks). Never secrets.
    public var warnings: [String] = []

    public static let apiVersion = "2021-04-12"

    /// How the MQTT client reaches edgeHub: `MqttWs` upgrades to WebSocket on `/$iothub/websocket`.
    public var mqttTransport: MQTTTransport {
        switch transport {
        case .mqtt: .tcp
        case .mqttWebSocket: .webSocket(path: MQTTTransport.iotHubWebSocketPath)
        }
    }

    /// `{device}/{module}`
    public var clientId: String { "\(deviceId)/\(moduleId)" }
    /// `{hub}/{device}/{module}/?api-version=2021-04-12`
    public var username: String { "\(hubHostName)/\(deviceId)/\(moduleId)/?api-version=\(Self.apiVersion)" }
    public var resourceURI: String { SASToken.resourceURI(hub: hubHostName, device: deviceId, module: moduleId) }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// True when the environment asks for the module mode at all.
    public static func isPresent(_ env: [String: String]) -> Bool {
        env.keys.contains { $0.hasPrefix("IOTEDGE_") } || env["EdgeHubConnectionString"] != nil
    }

    /// nil without `IOTEDGE_*` or `EdgeHubConnectionString`; throws when they are there but incomplete.
    public static func from(_ env: [String: String]) throws(Invalid) -> EdgeEnvironment? {
        guard isPresent(env) else { return nil }
        var warnings: [String] = []
        var transport = Transport.mqtt
        if let upstream = env["UpstreamProtocol"], !upstream.isEmpty {
            switch upstream.lowercased() {
            case "mqtt": transport = .mqtt
            case "mqttws": transport = .mqttWebSocket
            case "amqp", "amqpws":
                warnings.append("UpstreamProtocol \(upstream) is not supported by EdgeLog (it speaks MQTT only); using MQTT over TLS on port 8883")
            default:
                warnings.append("UpstreamProtocol \(upstream) is unknown; using MQTT over TLS on port 8883")
            }
        }
        var port = transport.defaultPort
        if let p = env["EDGELOG_EDGEHUB_PORT"], !p.isEmpty {
            guard let v = Int(p), (1...65535).contains(v) else {
                throw Invalid(description: "EDGELOG_EDGEHUB_PORT \"\(p)\" is not a port number")
            }
            port = v
        }
        if let cs = env["EdgeHubConnectionString"], !cs.isEmpty {
            var fields: [String: String] = [:]
            for part in cs.split(separator: ";") {
                guard let eq = part.firstIndex(of: "=") else { continue }
                fields[String(part[..<eq]).lowercased()] = String(part[part.index(after: eq)...])
            }
            func field(_ name: String) throws(Invalid) -> String {
                guard let v = fields[name.lowercased()], !v.isEmpty else {
                    throw Invalid(description: "EdgeHubConnectionString has no \(name)")
                }
                return v
            }
            guard let ca = env["EdgeModuleCACertificateFile"], !ca.isEmpty else {
                throw Invalid(description: "EdgeHubConnectionString needs EdgeModuleCACertificateFile (edgeHub's CA certificate, PEM)")
            }
            let hub = try field("HostName")
            let key = try field("SharedAccessKey")
            guard Base64.decode(key) != nil else { throw Invalid(description: "EdgeHubConnectionString's SharedAccessKey is not base64") }
            return EdgeEnvironment(
                hubHostName: hub, deviceId: try field("DeviceId"), moduleId: try field("ModuleId"),
                gatewayHostName: fields["gatewayhostname"] ?? hub, port: port, transport: transport,
                credentials: .sharedAccessKey(keyBase64: key, caCertificateFile: ca), warnings: warnings)
        }
        func variable(_ name: String) throws(Invalid) -> String {
            guard let v = env[name], !v.isEmpty else { throw Invalid(description: "\(name) is not set") }
            return v
        }
        if let scheme = env["IOTEDGE_AUTHSCHEME"], !scheme.isEmpty, scheme.lowercased() != "sastoken" {
            throw Invalid(description: "IOTEDGE_AUTHSCHEME \(scheme) is not supported (only sasToken)")
        }
        let uri = try variable("IOTEDGE_WORKLOADURI")
        guard uri.hasPrefix("unix://") else {
            throw Invalid(description: "IOTEDGE_WORKLOADURI \(uri) is not a unix socket (unix:///path)")
        }
        return EdgeEnvironment(
            hubHostName: try variable("IOTEDGE_IOTHUBHOSTNAME"), deviceId: try variable("IOTEDGE_DEVICEID"),
            moduleId: try variable("IOTEDGE_MODULEID"), gatewayHostName: try variable("IOTEDGE_GATEWAYHOSTNAME"),
            port: port, transport: transport,
            credentials: .workload(
                socketPath: String(uri.dropFirst("unix://".count)), generationId: try variable("IOTEDGE_MODULEGENERATIONID"),
                apiVersion: env["IOTEDGE_APIVERSION"].flatMap { $0.isEmpty ? nil : $0 } ?? "2019-01-30"),
            warnings: warnings)
    }
}
