import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built `edgelog` binary with the logsIngestion sink: `run --once`, `config validate`, `deadletter`.
@Suite struct CommandLineTests {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["EDGELOG_BIN"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("edgelog").path
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "https_proxy")
        env.removeValue(forKey: "HTTPS_PROXY")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func aSecretInTheConfigurationIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("config.json")
        try #"{"sink":{"type":"logsIngestion","clientSecret":"hunter2"}}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        let result = try run(["config", "validate", path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("sink.clientSecret: a secret cannot be given in the configuration"))
        #expect(result.stdout.contains("sink.endpoint: is required"))
        #expect(!result.stdout.contains("hunter2"))
    }

    @Test func shipsRefusesRetriesAndShipsAgain() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let dir = TemporaryDirectory()
        let container = try DockerContainerFixture(root: try dir.makeDirectory("containers"), name: "sensor")
        try container.log((0..<500).map { "{\"s\":\"sensor\",\"n\":\($0)}" })
        let config = """
            {"stateDirectory": "\(dir.path)/state", "journal": {"enabled": false},
             "docker": {"containersDirectory": "\(dir.path)/containers", "excludeSelf": false},
             "batch": {"maxBytes": 20000, "flushIntervalSeconds": 0.05},
             "sink": {"type": "logsIngestion", "endpoint": "\(server.url)", "authorityHost": "\(server.url)",
                      "dcrImmutableId": "\(IngestionServer.dcr)", "tenantId": "\(IngestionServer.tenant)",
                      "clientId": "\(IngestionServer.clientId)", "clientSecretFile": "\(dir.path)/secret"}}
            """
        let path = dir.file("config.json")
        try config.write(toFile: path, atomically: true, encoding: .utf8)

        // The secret file is missing: a clear error, nothing sent.
        let missing = try run(["run", "--once", "--config", path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("sink.clientSecretFile: \(dir.path)/secret does not exist"))
        try (IngestionServer.clientSecret + "\n").write(toFile: dir.path + "/secret", atomically: true, encoding: .utf8)

        server.inject(.status(403, body: "{\"error\":{\"code\":\"Forbidden\",\"message\":\"role missing\"}}"))
        let first = try run(["run", "--once", "--config", path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(
            first.stderr.split(separator: "\n").contains {
                $0.contains("sink logsIngestion failed batch ") && $0.contains(": HTTP 403 Forbidden: role missing; ")
                    && $0.contains("(x-ms-client-request-id ")
            })
        #expect(!first.stderr.contains(IngestionServer.clientSecret))
        let list = try run(["deadletter", "list", "--config", path])
        #expect(list.stdout.contains("1 dead letter(s)"))
        #expect(list.stdout.contains("HTTP 403"))

        let retry = try run(["deadletter", "retry", "--config", path])
        #expect(retry.stdout.contains("1 batch(es)"))
        let second = try run(["run", "--once", "--config", path])
        #expect(second.status == 0, "\(second.stderr)")
        let numbers = server.records.compactMap { record -> Int? in
            guard let message = record["Message"]?.stringValue else { return nil }
            return (try? JSONParser.parse(Array(message.utf8)))?["n"]?.intValue.map(Int.init)
        }
        #expect(numbers.sorted() == Array(0..<500))
        #expect(try run(["deadletter", "list", "--config", path]).stdout.contains("0 dead letter(s)"))
        #expect(try run(["deadletter", "purge", "--config", path]).status != 0)  // needs --all or sequences
    }
}
