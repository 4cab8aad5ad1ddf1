import EdgeLogApp
import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import EdgeLogTwin
import Logging
import Testing

/// EdgeLog as an IoT Edge module: mosquitto over TLS as edgeHub (with a WebSocket head in front of it for
/// `UpstreamProtocol=MqttWs`), a peer playing IoT Hub, a workload API on a unix socket, and the real supervisor
/// shipping Docker logs to the file sink.
@Suite(.serialized) struct TwinServiceTests {
    static let key = Array("an edge module key of 32 bytes!!".utf8)

    final class Edge: @unchecked Sendable {
        let dir = TemporaryDirectory()
        let certificates: TestCertificates
        let broker: Mosquitto
        /// Between the module and the broker with `MqttWs`.
        let webSocket: WebSocketBridgeServer?
        let workload: WorkloadServer
        var hub: HubPeer
        let supervisor: Supervisor
        let twin: TwinService
        let container: DockerContainerFixture
        var tasks: [Task<Void, any Error>] = []
        var out: String { dir.path + "/out" }

        /// `reportEverySecond`: the environment's override of `twin.reportIntervalSeconds`, set to 1 s.
        /// `clock`: the twin's timers (a manual clock where a test moves time itself).
        /// `recentLogs`: what `getRecentLogs` sees as EdgeLog's log lines; `rotateNow`: the hook behind the method.
        init(
            initialDesired: JSONValue, tokenSeconds: Int64 = 3600, upstreamProtocol: String? = nil,
            reportEverySecond: Bool = true,
            recentLogs: @escaping @Sendable (Int) -> [String] = { n in (0..<n).map { "line \($0)" } },
            rotateNow: TwinService.RotateHook? = nil, rotateNowInterval: Duration = .seconds(60),
            clock: ElapsedClock = .continuous
        ) async throws {
            certificates = try TestCertificates(in: dir.path)
            broker = try Mosquitto(directory: dir.path, certificates: certificates)
            try await broker.waitReady()
            webSocket = upstreamProtocol == "MqttWs"
                ? try await WebSocketBridgeServer(certificates: certificates, brokerPort: broker.port) : nil
            // The first two workload calls are refused (503): the client retries.
            workload = try await WorkloadServer(
                socketPath: dir.path + "/workload.sock", key: TwinServiceTests.key,
                trustPEM: String(decoding: certificates.caPEM, as: UTF8.self), refuseFirst: 2)
            hub = try await HubPeer(port: broker.port, trust: certificates.caPEM)
            hub.shared.state.withLock { $0.desired = initialDesired.merging(patch: .object([("$version", .int(1))])) }
            let root = try dir.makeDirectory("containers")
            container = try DockerContainerFixture(root: root, name: "app")
            var config = Configuration()
            config.stateDirectory = dir.path + "/state"
            config.docker.containersDirectory = root
            config.docker.excludeSelf = false
            config.docker.pollIntervalSeconds = 0.05
            config.batch.flushIntervalSeconds = 0.05
            config.sink.directory = dir.path + "/out"
            var env = [
                "IOTEDGE_IOTHUBHOSTNAME": "testhub.azure-devices.net", "IOTEDGE_DEVICEID": "device1", "IOTEDGE_MODULEID": "edgelog",
                "IOTEDGE_MODULEGENERATIONID": "gen1", "IOTEDGE_GATEWAYHOSTNAME": "localhost", "IOTEDGE_WORKLOADURI": "unix://" + dir.path + "/workload.sock",
                "IOTEDGE_APIVERSION": "2019-01-30", "IOTEDGE_AUTHSCHEME": "sasToken", "EDGELOG_EDGEHUB_PORT": String(broker.port),
                "EDGELOG_TWIN_REPORT_INTERVAL_SECONDS": "1", "EDGELOG_SAS_TOKEN_TTL_SECONDS": String(tokenSeconds),
            ]
            if !reportEverySecond { env["EDGELOG_TWIN_REPORT_INTERVAL_SECONDS"] = nil }
            if let upstreamProtocol { env["UpstreamProtocol"] = upstreamProtocol }
            if let webSocket { env["EDGELOG_EDGEHUB_PORT"] = String(webSocket.port) }
            let edge = try #require(try EdgeEnvironment.from(env))
            let logger = Logger(label: "twin-test")
            // Configurations that cannot be built are tried again quickly.
            supervisor = Supervisor(
                application: Application(configuration: config, environment: [:], logger: logger),
                retryInitial: .milliseconds(200), retryMaximum: .seconds(1))
            var settings = TwinServiceSettings(environment: env)
            settings.reconnectBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
            settings.getTimeout = .seconds(2)
            settings.rotateNowMinimumInterval = rotateNowInterval
            twin = TwinService(
                edge: edge, supervisor: supervisor, settings: settings, logger: logger, rotateNow: rotateNow,
                recentLogs: recentLogs, clock: clock)
            let supervisor = self.supervisor
            let twin = self.twin
            tasks.append(Task { try await supervisor.run() })
            tasks.append(Task { try await twin.run() })
        }

        func shipped() -> [String] {
            let names = ((try? FileSystem.list(out)) ?? nil ?? []).filter { $0.hasSuffix(".ndjson.gz") }.sorted()
            var messages: [String] = []
            for name in names {
                guard let bytes = try? FileSystem.read(out + "/" + name), let plain = try? Gzip.decompress(bytes) else { continue }
                for line in plain.split(separator: 0x0A) {
                    if let m = (try? JSONParser.parse(Array(line)))?["Message"]?.stringValue { messages.append(m) }
                }
            }
            return messages
        }

        func reportedConfig(_ key: String) -> JSONValue? { hub.reported["config"]?[key] }

        func stop() async throws {
            tasks[1].cancel()
            supervisor.shutdown()
            _ = try await tasks[0].value
            _ = try? await tasks[1].value
            await hub.close()
            await workload.close()
            await webSocket?.close()
            broker.stop()
        }
    }

    @Test func twinAppliesDesiredPropertiesLiveAndAnswersMethods() async throws {
        // Desired at start: batches close only after an hour.
        let edge = try await Edge(initialDesired: try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":3600}}"#))
        let hub = edge.hub

        // Connect, authenticate (the workload API signed the module's resource URI), GET and apply.
        try await eventually("the initial desired version applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        #expect(edge.reportedConfig("status") == .string("applied"))
        #expect(hub.reported["version"] == .string(EdgeLogVersion.current))
        #expect(edge.workload.signed.first?.hasPrefix("testhub.azure-devices.net%2Fdevices%2Fdevice1%2Fmodules%2Fedgelog\n") == true)
        try await eventually("the twin's configuration in force") { edge.supervisor.pipeline?.configuration.batch.flushIntervalSeconds == 3600 }

        try edge.container.log((0..<5).map { "before \($0)" })
        try await eventually("the lines read") { (edge.supervisor.pipeline?.counters[.recordsRead] ?? 0) >= 5 }
        #expect(edge.shipped().isEmpty, "an hour-long batch interval ships nothing yet")

        // A desired patch changes batching live: new lines now ship within the short interval.
        try await hub.pushDesired(try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":0.05}}"#))
        try await eventually("version 2 applied") { edge.reportedConfig("desiredVersion") == .int(2) }
        try await eventually("the new pipeline") { edge.supervisor.pipeline?.configuration.batch.flushIntervalSeconds == 0.05 }
        try edge.container.log((0..<5).map { "after \($0)" })
        try await eventually("both sets shipped") { edge.shipped().count == 10 }

        // An invalid patch is rejected as a whole; the old configuration keeps working.
        try await hub.pushDesired(try JSONParser.parse(#"{"batch":{"maxBytes":"lots","flushIntervalSeconds":7}}"#))
        try await eventually("version 3 rejected") { edge.reportedConfig("desiredVersion") == .int(3) }
        #expect(edge.reportedConfig("status") == .string("rejected"))
        let errors = try #require(edge.reportedConfig("errors")?.objectValue)
        #expect(errors.contains { $0.1["path"] == .string("batch.maxBytes") })
        #expect(errors.allSatisfy { !$0.0.contains(".") && !$0.0.contains("$") && !$0.0.contains("#") && !$0.0.contains(" ") })
        #expect(edge.supervisor.configuration.batch.flushIntervalSeconds == 0.05)
        try edge.container.log(["still working"])
        try await eventually("shipped under the old configuration") { edge.shipped().count == 11 }

        // null removes the faulty key (restoring the default); the document is valid again.
        try await hub.pushDesired(try JSONParser.parse(#"{"batch":{"maxBytes":null,"flushIntervalSeconds":null}}"#))
        try await eventually("version 4 applied") { edge.reportedConfig("desiredVersion") == .int(4) && edge.reportedConfig("status") == .string("applied") }
        #expect(edge.reportedConfig("errors") == nil)
        // flushIntervalSeconds is back to the base document's value (the file's 0.05), maxBytes to the default.
        #expect(edge.supervisor.configuration.batch.flushIntervalSeconds == 0.05)
        #expect(edge.supervisor.configuration.batch.maxBytes == BatchSettings().maxBytes)

        // A missed patch: the next one skips a $version, so the module GETs the whole twin again.
        let getsBefore = hub.gets
        try await hub.pushDesired(try JSONParser.parse(#"{"batch":{"maxBytes":500000}}"#), publish: false)
        try await hub.pushDesired(try JSONParser.parse(#"{"spool":{"maxBytes":"200MiB"}}"#))
        try await eventually("version 6 applied after a GET") { edge.reportedConfig("desiredVersion") == .int(6) }
        #expect(hub.gets > getsBefore)
        #expect(edge.supervisor.configuration.batch.maxBytes == 500_000)
        // Version 6 restarts the pipeline: the status below is asked of the new one.
        try await eventually("the pipeline of version 6 running") { edge.supervisor.pipeline?.configuration.batch.maxBytes == 500_000 }

        // Direct methods.
        let status = try await hub.call("getStatus")
        #expect(status.status == 200)
        #expect(status.payload["running"] == .bool(true))
        #expect(status.payload["records"]?["shipped"]?.intValue != nil)
        let flush = try await hub.call("flush")
        #expect(flush.status == 200)
        let rotate = try await hub.call("rotateNow", try JSONParser.parse(#"{"paths":["/var/log/x"]}"#))
        #expect(rotate.status == 501)
        #expect(rotate.payload["message"]?.stringValue?.contains("rotation") == true)
        let logs = try await hub.call("getRecentLogs", try JSONParser.parse(#"{"lines":3}"#))
        #expect(logs.status == 200)
        #expect(logs.payload["lines"] == .array([.string("line 0"), .string("line 1"), .string("line 2")]))
        let unknown = try await hub.call("reboot")
        #expect(unknown.status == 404)
        #expect(unknown.payload["message"]?.stringValue?.contains("reboot") == true)

        // Health is reported periodically.
        try await eventually("health in the reported properties") { hub.reported["health"]?["spool"]?["batches"]?.intValue != nil }
        try await edge.stop()
        #expect(edge.shipped().count == 11)
    }

    /// `twin.reportIntervalSeconds` comes from the desired properties like every other key: with 1 s, each second
    /// of the twin's (manual) clock brings a health report (with the default 60 s, none would).
    @Test func theReportIntervalIsADesiredProperty() async throws {
        let clock = ManualClock()
        let edge = try await Edge(
            initialDesired: try JSONParser.parse(#"{"twin":{"reportIntervalSeconds":1}}"#), reportEverySecond: false,
            clock: ElapsedClock(clock))
        try await eventually("the initial desired version applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        #expect(edge.supervisor.configuration.twin.reportIntervalSeconds == 1)
        let applied = edge.hub.shared.state.withLock { $0.reportedPatches }
        for n in 1...5 {
            // Only the report timer sleeps exactly 1 s (the GET retry sleeps 2 s, the renewal most of an hour).
            try await eventually("the report timer asleep for 1 s, time \(n)") {
                clock.requestedSleeps.filter { $0 == .seconds(1) }.count >= n
            }
            clock.advance(by: .seconds(1))
            try await eventually("health report \(n)") { edge.hub.shared.state.withLock { $0.reportedPatches } >= applied + n }
        }
        #expect(edge.hub.reported["health"]?["running"] == .bool(true))
        try await edge.stop()
    }

    @Test func aDesiredPatchTurnsOnFiltersLive() async throws {
        let edge = try await Edge(initialDesired: try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":0.05}}"#))
        let hub = edge.hub
        try await eventually("the initial desired version applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        try edge.container.log(["info 1", "<4> warning 1", "token=abc1 SharedAccessKey=k3y1"])
        try await eventually("the first lines shipped") { edge.shipped().count == 3 }
        // The built-in redaction is on from the start; the admin's token rule is not there yet.
        #expect(edge.shipped() == ["info 1", "<4> warning 1", "token=abc1 SharedAccessKey=<redacted>"])

        try await hub.pushDesired(
            try JSONParser.parse(
                #"{"filters":{"rules":[{"match":{"modules":["app"]},"maxLevel":"warning"}]},"redaction":{"rules":[{"pattern":"token=\\S+","replacement":"token=***"}]},"records":{"containerId":"full"}}"#
            ))
        try await eventually("version 2 applied") {
            edge.reportedConfig("desiredVersion") == .int(2) && edge.reportedConfig("status") == .string("applied")
        }
        try await eventually("the new pipeline") { edge.supervisor.pipeline?.configuration.filters.rules.count == 1 }
        #expect(edge.supervisor.pipeline?.configuration.records.containerId == "full")
        try edge.container.log(["info 2", "<4> warning 2 token=abc2"])
        try await eventually("the warning shipped") { edge.shipped().count == 4 }
        try await eventually("the drop and the redactions in the reported health") {
            let records = hub.reported["health"]?["records"]
            return records?["filtered"]?["level"]?.intValue == 1 && records?["redacted"]?.intValue == 2
        }
        #expect(hub.reported["health"]?["records"]?["filtered"]?["rateLimit"]?.intValue == 0)
        try await edge.stop()
        #expect(edge.shipped() == ["info 1", "<4> warning 1", "token=abc1 SharedAccessKey=<redacted>", "<4> warning 2 token=***"])
    }

    @Test func metricsFollowTheTwinWithoutRestartingThePipeline() async throws {
        let (first, second) = (try freePort(), try freePort())
        let edge = try await Edge(
            initialDesired: try JSONParser.parse(#"{"metrics":{"host":"127.0.0.1","port":\#(first)}}"#))
        // Started once the twin's section is in force (the file's would listen on 0.0.0.0:9600 meanwhile).
        try await eventually("the initial desired version applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        let collector = MetricsCollector(
            supervisor: edge.supervisor, counters: edge.supervisor.counters, twin: edge.twin,
            host: HostIdentity(computer: "c", deviceId: "device1", iotHub: "testhub.azure-devices.net"))
        let metrics = MetricsService(supervisor: edge.supervisor, collector: collector, logger: Logger(label: "metrics"))
        let serving = Task { try await metrics.run() }
        func scrape(_ port: Int) async -> String? {
            guard let r = try? await TCPTestConnection.get(port: port, "/metrics"), r.status == 200 else { return nil }
            return r.body
        }
        /// The value of `name`'s first sample.
        func value(_ text: String?, _ name: String) -> String? {
            text?.split(separator: "\n").first { $0.hasPrefix(name + "{") }.map { String($0.split(separator: " ").last!) }
        }
        try await eventually("served on the first port with the twin connected and version 1 applied") {
            let text = await scrape(first)
            return value(text, "edgelog_twin_connected") == "1" && value(text, "edgelog_config_applied_version") == "1"
        }
        let labels = #"{iothub="testhub.azure-devices.net",edge_device="device1",instance_number=""#
        #expect(await scrape(first)?.contains("edgelog_twin_connected" + labels) == true)
        let pipeline = try #require(edge.supervisor.pipeline)

        // The twin moves the port: the old one closes, the new one answers, the pipeline keeps running.
        try await edge.hub.pushDesired(try JSONParser.parse(#"{"metrics":{"port":\#(second)}}"#))
        try await eventually("served on the second port") { await scrape(second) != nil }
        #expect(await scrape(first) == nil)
        #expect(edge.supervisor.pipeline === pipeline)
        try await eventually("version 2 in the metrics") {
            value(await scrape(second), "edgelog_config_applied_version") == "2"
        }
        // The file `edgelog healthcheck` reads follows the move (written once the new listener is up).
        let endpointFile = edge.supervisor.configuration.stateDirectory + "/metrics-endpoint.json"
        try await eventually("the endpoint file names the second port") {
            let endpoint = (try? FileSystem.read(endpointFile)).flatMap { $0 }.flatMap { try? JSONParser.parse($0) }
            return endpoint?["port"] == .int(Int64(second))
        }

        // And turns metrics off.
        try await edge.hub.pushDesired(try JSONParser.parse(#"{"metrics":{"enabled":false}}"#))
        try await eventually("nothing listens") { (try? TCPTestConnection(port: second)) == nil }
        #expect(edge.supervisor.pipeline === pipeline)
        serving.cancel()
        _ = try? await serving.value
        try await edge.stop()
    }

    @Test func twinAndMethodsOverMqttWs() async throws {
        let edge = try await Edge(initialDesired: try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":3600}}"#), upstreamProtocol: "MqttWs")
        let hub = edge.hub
        try await eventually("the initial desired version applied over the WebSocket") { edge.reportedConfig("desiredVersion") == .int(1) }
        #expect(edge.reportedConfig("status") == .string("applied"))
        #expect(edge.webSocket?.stats.upgrades == 1)
        try await eventually("the twin's configuration in force") { edge.supervisor.pipeline?.configuration.batch.flushIntervalSeconds == 3600 }

        try await hub.pushDesired(try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":0.05}}"#))
        try await eventually("version 2 applied") { edge.reportedConfig("desiredVersion") == .int(2) }
        try edge.container.log(["over websocket"])
        try await eventually("shipped under the patched configuration") { edge.shipped() == ["over websocket"] }
        let status = try await hub.call("getStatus")
        #expect(status.status == 200)
        #expect(status.payload["running"] == .bool(true))
        #expect(edge.twin.connections == 1)
        #expect(edge.webSocket?.stats.violations.isEmpty == true)
        try await edge.stop()
    }

    @Test func reconnectsAfterTheBrokerRestartsAndAfterAnOversizeMessage() async throws {
        let edge = try await Edge(initialDesired: .object([]))
        try await eventually("connected and applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        #expect(edge.twin.connections == 1)

        // An oversize message from the broker closes that connection; the module reconnects and re-GETs.
        let gets = edge.hub.gets
        try await edge.hub.connection.publish(
            topic: "$iothub/methods/POST/big/?$rid=1", payload: [UInt8](repeating: 0x41, count: 600 * 1024), qos: 0)
        try await eventually("reconnected after the oversize message") { edge.twin.connections == 2 && edge.hub.gets > gets }

        // The broker restarts: both the module and the hub peer reconnect.
        edge.broker.stop()
        try edge.broker.start()
        try await edge.broker.waitReady()
        await edge.hub.close()
        edge.hub = try await HubPeer(port: edge.broker.port, trust: edge.certificates.caPEM, shared: edge.hub.shared)
        try await eventually("reconnected after the restart") { edge.twin.connections >= 3 }
        try await edge.hub.pushDesired(try JSONParser.parse(#"{"batch":{"flushIntervalSeconds":0.2}}"#))
        try await eventually("a patch after the restart applied") { edge.supervisor.configuration.batch.flushIntervalSeconds == 0.2 }
        try await edge.stop()
    }

    @Test func renewsTheTokenByReconnecting() async throws {
        // A 3600 s token is renewed 300 s before it expires (a tenth of its validity, at most 5 minutes), with a new signature from
        // the workload API, on the twin's manual clock.
        let clock = ManualClock()
        let edge = try await Edge(initialDesired: .object([]), tokenSeconds: 3600, clock: ElapsedClock(clock))
        for connection in 1...2 {
            try await eventually("connection \(connection) waiting to renew its token") {
                edge.twin.connections == connection && clock.requestedSleeps.filter { $0 == .seconds(3300) }.count == connection
            }
            #expect(edge.workload.signed.count == connection, "each connection signs its own token")
            clock.advance(by: .seconds(3300))
            // The reconnect waits its backoff on the same clock.
            try await eventually("reconnected with a fresh token") {
                if edge.twin.connections > connection { return true }
                clock.advance(by: .milliseconds(100))
                return false
            }
        }
        try await eventually("applied after renewal") { edge.reportedConfig("status") == .string("applied") }
        #expect(edge.workload.signed.count >= 3)
        try await edge.stop()
    }
}
