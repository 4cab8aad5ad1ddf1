import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Foundation
import Testing

/// The built `edgelog` binary as an IoT Edge module (mosquitto as edgeHub, the hub peer, the workload API):
/// a configuration that cannot be applied never stops the process, at a desired patch or at start, and across
/// restarts.
@Suite(.serialized) struct ModuleBinaryTests {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["EDGELOG_BIN"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("edgelog").path
    }

    final class Module: @unchecked Sendable {
        let dir = TemporaryDirectory()
        let certificates: TestCertificates
        let broker: Mosquitto
        let workload: WorkloadServer
        let hub: HubPeer
        let container: DockerContainerFixture
        let metricsPort: Int
        var process: ChildProcess?
        var state: String { dir.path + "/state" }
        var out: String { dir.path + "/out" }

        init() async throws {
            certificates = try TestCertificates(in: dir.path)
            broker = try Mosquitto(directory: dir.path, certificates: certificates)
            try await broker.waitReady()
            workload = try await WorkloadServer(
                socketPath: dir.path + "/workload.sock", key: TwinServiceTests.key,
                trustPEM: String(decoding: certificates.caPEM, as: UTF8.self))
            hub = try await HubPeer(port: broker.port, trust: certificates.caPEM)
            container = try DockerContainerFixture(root: try dir.makeDirectory("containers"), name: "app")
            metricsPort = try freePort()
        }

        /// The config file: file sink, this container, metrics on loopback; `sink` replaces the sink section.
        func writeConfig(sink: String = #"{"directory": "OUT"}"#) throws -> String {
            let json = """
                {"stateDirectory": "\(state)", "journal": {"enabled": false},
                 "docker": {"containersDirectory": "\(dir.path)/containers", "excludeSelf": false, "pollIntervalSeconds": 0.05},
                 "batch": {"flushIntervalSeconds": 0.05},
                 "metrics": {"host": "127.0.0.1", "port": \(metricsPort)},
                 "sink": \(sink.replacingOccurrences(of: "OUT", with: out))}
                """
            let path = dir.file("config.json")
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func start(config: String) throws {
            let env = [
                "IOTEDGE_IOTHUBHOSTNAME": "testhub.azure-devices.net", "IOTEDGE_DEVICEID": "device1",
                "IOTEDGE_MODULEID": "edgelog", "IOTEDGE_MODULEGENERATIONID": "gen1",
                "IOTEDGE_GATEWAYHOSTNAME": "localhost", "IOTEDGE_WORKLOADURI": "unix://" + dir.path + "/workload.sock",
                "IOTEDGE_APIVERSION": "2019-01-30", "IOTEDGE_AUTHSCHEME": "sasToken",
                "EDGELOG_EDGEHUB_PORT": String(broker.port), "EDGELOG_TWIN_REPORT_INTERVAL_SECONDS": "1",
            ]
            process = try ChildProcess(ModuleBinaryTests.binary, ["run", "--config", config], environment: env)
        }

        /// The process has not ended (a zombie counts as ended).
        var alive: Bool {
            guard let pid = process?.pid,
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
        }

        func kill() {
            process?.signal(SIGKILL)
            process?.wait()
        }

        var stderr: String { process?.stderr ?? "" }

        func shipped(to folder: String? = nil) -> [String] {
            let out = folder ?? self.out
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

        func config(_ key: String) -> JSONValue? { hub.reported["config"]?[key] }

        func healthz() async -> Int? { (try? await TCPTestConnection.get(port: metricsPort, "/healthz"))?.status }

        func healthzBody() async -> String {
            (try? await TCPTestConnection.get(port: metricsPort, "/healthz"))?.body ?? ""
        }

        func stop() async {
            kill()
            await hub.close()
            await workload.close()
            broker.stop()
        }
    }

    static let unbuildableSink =
        #"{"type":"http","url":"http://127.0.0.1:9/collect","headersFromEnvironment":{"Authorization":"EDGELOG_TEST_VARIABLE_NOT_SET"}}"#

    /// A desired patch whose sink cannot be built: reported rejected, the process stays up with the old
    /// configuration shipping, and after a restart (which reads the same twin) it is up again and ships.
    @Test func anUnappliablePatchNeitherStopsTheModuleNorAfterARestart() async throws {
        let m = try await Module()
        let config = try m.writeConfig()
        try m.start(config: config)
        try await eventually("version 1 applied") { m.config("desiredVersion") == .int(1) && m.config("status") == .string("applied") }
        try m.container.log(["one"])
        try await eventually("shipped") { m.shipped() == ["one"] }

        try await m.hub.pushDesired(try JSONParser.parse(#"{"sink":\#(Self.unbuildableSink)}"#))
        try await eventually("version 2 rejected", timeout: .seconds(60)) {
            m.config("desiredVersion") == .int(2) && m.config("status") == .string("rejected")
        }
        #expect(m.alive, "\(m.stderr)")
        try m.container.log(["two"])
        try await eventually("shipped under the old configuration") { m.shipped() == ["one", "two"] }
        #expect(m.config("inForce")?["desiredVersion"] == .int(1))
        #expect(await m.healthz() == 200)
        // The last configuration that ran well is kept, private.
        let saved = try #require(try FileSystem.status(m.state + "/last-good-config.json"))
        #expect(saved.st_mode & 0o777 == 0o600)

        // Restart: the configuration the twin gave last (version 1, saved) starts at once, and the twin's desired
        // (still version 2) is refused again.
        m.kill()
        let getsBefore = m.hub.gets
        try m.start(config: config)
        try await eventually("the twin read again") { m.hub.gets > getsBefore }
        try await eventually("version 2 rejected after the restart") {
            m.config("desiredVersion") == .int(2) && m.config("status") == .string("rejected")
                && m.config("inForce")?["origin"] == .string("desired") && m.config("inForce")?["desiredVersion"] == .int(1)
        }
        #expect(m.stderr.contains("running the configuration the module twin gave last"))
        try m.container.log(["three"])
        try await eventually("shipped after the restart") { m.shipped() == ["one", "two", "three"] }
        #expect(m.alive, "\(m.stderr)")
        #expect(await m.healthz() == 200)
        await m.stop()
    }

    /// A first start (nothing the twin gave is saved): no log is read until the twin's desired properties arrive,
    /// so nothing goes to the config file's sink; then everything goes to the sink the twin names, and a restart
    /// runs the twin's configuration at once.
    @Test func aFirstStartReadsNothingUntilTheTwinAnswers() async throws {
        let m = try await Module()
        let twinOut = m.dir.path + "/twin-out"
        m.hub.holdGets()
        try await m.hub.pushDesired(try JSONParser.parse(#"{"sink": {"directory": "\#(twinOut)"}}"#), publish: false)
        let config = try m.writeConfig()
        try m.container.log(["early"])
        try m.start(config: config)
        try await eventually("the twin asked for") { m.hub.heldGets > 0 }
        try await eventually("/healthz says what it waits for") {
            await m.healthzBody().contains("waiting for the module twin's desired properties")
        }
        #expect(await m.healthz() == 503)
        #expect(m.shipped().isEmpty, "read with the config file's sink before the twin answered")

        try await m.hub.releaseGets()
        try await eventually("shipped to the twin's sink") { m.shipped(to: twinOut) == ["early"] }
        try m.container.log(["late"])
        try await eventually("the next line too") { m.shipped(to: twinOut) == ["early", "late"] }
        #expect(m.shipped().isEmpty)

        // A restart runs the twin's configuration before the twin is read again.
        m.kill()
        m.hub.holdGets()
        try m.container.log(["after restart"])
        try m.start(config: config)
        try await eventually("shipped while the twin does not answer") {
            m.shipped(to: twinOut) == ["early", "late", "after restart"]
        }
        #expect(m.shipped().isEmpty)
        #expect(m.alive, "\(m.stderr)")
        await m.stop()
    }

    /// The configuration the module starts with cannot be applied (its sink needs an unset variable): the last
    /// good configuration runs instead, the twin reports both, and the process stays up.
    @Test func aStartupConfigurationThatCannotRunFallsBackToTheLastGoodOne() async throws {
        let m = try await Module()
        let good = try m.writeConfig()
        try m.start(config: good)
        try await eventually("version 1 applied") { m.config("desiredVersion") == .int(1) }
        try m.container.log(["one"])
        try await eventually("shipped") { m.shipped() == ["one"] }
        try await eventually("the last good configuration saved") {
            ((try? FileSystem.status(m.state + "/last-good-config.json")) ?? nil) != nil
        }
        m.kill()

        let bad = try m.writeConfig(sink: Self.unbuildableSink)
        try m.start(config: bad)
        // Pending: the file's configuration, then (once the twin is read) the file merged with desired version 1.
        try await eventually("reported: the last good one in force, the newer one pending") {
            m.config("inForce")?["lastGood"] == .bool(true) && m.config("pending") != nil
        }
        let pending = try #require(m.config("pending"))
        #expect(pending["errors"]?.serialized().contains("EDGELOG_TEST_VARIABLE_NOT_SET") == true)
        try m.container.log(["two"])
        try await eventually("shipped by the last good configuration") { m.shipped() == ["one", "two"] }
        #expect(m.alive, "\(m.stderr)")
        #expect(await m.healthz() == 200)
        // As a module, the configuration the twin gave last runs at once, before the twin is even read.
        #expect(m.stderr.contains("running the configuration the module twin gave last"))
        await m.stop()
    }
}
