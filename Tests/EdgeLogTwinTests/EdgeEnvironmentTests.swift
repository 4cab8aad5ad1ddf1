import Testing
@testable import EdgeLogTwin

@Suite struct EdgeEnvironmentTests {
    let edge = [
        "IOTEDGE_IOTHUBHOSTNAME": "hub.azure-devices.net", "IOTEDGE_DEVICEID": "dev", "IOTEDGE_MODULEID": "edgelog",
        "IOTEDGE_MODULEGENERATIONID": "gen1", "IOTEDGE_GATEWAYHOSTNAME": "edgehub", "IOTEDGE_WORKLOADURI": "unix:///var/run/iotedge/workload.sock",
        "IOTEDGE_APIVERSION": "2019-01-30", "IOTEDGE_AUTHSCHEME": "sasToken",
    ]

    @Test func standaloneWithoutVariables() throws {
        #expect(try EdgeEnvironment.from(["PATH": "/bin"]) == nil)
    }

    @Test func edgeRuntime() throws {
        let e = try #require(try EdgeEnvironment.from(edge))
        #expect(e.clientId == "dev/edgelog")
        #expect(e.username == "hub.azure-devices.net/dev/edgelog/?api-version=2021-04-12")
        #expect(e.resourceURI == "hub.azure-devices.net/devices/dev/modules/edgelog")
        #expect(e.gatewayHostName == "edgehub")
        #expect(e.port == 8883)
        #expect(e.credentials == .workload(socketPath: "/var/run/iotedge/workload.sock", generationId: "gen1", apiVersion: "2019-01-30"))
        #expect(e.warnings.isEmpty)
    }

    @Test func portOverrideAndProtocols() throws {
        var env = edge
        env["EDGELOG_EDGEHUB_PORT"] = "28883"
        env["UpstreamProtocol"] = "AmqpWs"
        let e = try #require(try EdgeEnvironment.from(env))
        #expect(e.port == 28883)
        #expect(e.transport == .mqtt)
        #expect(e.warnings.count == 1 && e.warnings[0].contains("not supported by EdgeLog"))
        #expect(e.mqttTransport == .tcp)
        env["UpstreamProtocol"] = "Amqp"
        #expect(try EdgeEnvironment.from(env)?.warnings.first?.contains("Amqp is not supported by EdgeLog") == true)
        env["UpstreamProtocol"] = "Mqtt5"
        #expect(try EdgeEnvironment.from(env)?.warnings.first?.contains("Mqtt5 is unknown") == true)
        env["UpstreamProtocol"] = "MqttWs"
        let ws = try #require(try EdgeEnvironment.from(env))
        #expect(ws.transport == .mqttWebSocket)
        #expect(ws.port == 28883, "EDGELOG_EDGEHUB_PORT overrides either transport's port")
        #expect(ws.warnings.isEmpty)
        env["EDGELOG_EDGEHUB_PORT"] = "x"
        #expect(throws: EdgeEnvironment.Invalid.self) { try EdgeEnvironment.from(env) }
    }

    @Test func upstreamProtocolChoosesTransportAndPort() throws {
        var env = edge
        env["UpstreamProtocol"] = "MqttWs"
        let ws = try #require(try EdgeEnvironment.from(env))
        #expect(ws.transport == .mqttWebSocket)
        #expect(ws.port == 443)
        #expect(ws.mqttTransport == .webSocket(path: "/$iothub/websocket"))
        #expect(ws.warnings.isEmpty)
        env["UpstreamProtocol"] = "mqtt"
        let mqtt = try #require(try EdgeEnvironment.from(env))
        #expect(mqtt.transport == .mqtt && mqtt.port == 8883 && mqtt.mqttTransport == .tcp)
        env["UpstreamProtocol"] = "AmqpWs"
        let amqp = try #require(try EdgeEnvironment.from(env))
        #expect(amqp.transport == .mqtt && amqp.port == 8883)
    }

    @Test func incompleteEdgeEnvironmentIsAnError() {
        var env = edge
        env["IOTEDGE_MODULEID"] = nil
        #expect(throws: EdgeEnvironment.Invalid.self) { try EdgeEnvironment.from(env) }
        env = edge
        env["IOTEDGE_AUTHSCHEME"] = "x509"
        #expect(throws: EdgeEnvironment.Invalid.self) { try EdgeEnvironment.from(env) }
    }

    @Test func connectionString() throws {
        let env = [
            "EdgeHubConnectionString": "HostName=hub.azure-devices.net;GatewayHostName=localhost;DeviceId=dev;ModuleId=edgelog;SharedAccessKey=c2VjcmV0",
            "EdgeModuleCACertificateFile": "/tmp/ca.pem",
        ]
        let e = try #require(try EdgeEnvironment.from(env))
        #expect(e.gatewayHostName == "localhost")
        #expect(e.credentials == .sharedAccessKey(keyBase64: "c2VjcmV0", caCertificateFile: "/tmp/ca.pem"))
        #expect(throws: EdgeEnvironment.Invalid.self) { try EdgeEnvironment.from(["EdgeHubConnectionString": env["EdgeHubConnectionString"]!]) }
    }
}
