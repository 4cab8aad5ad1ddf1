import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Foundation

/// Runs the built `edgelog` binary (next to the test bundle) as a device would.
struct BinaryHarness {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["EDGELOG_BIN"] { return path }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // swift-testing runs inside the .xctest bundle folder on some layouts.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("edgelog").path
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs to completion.
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let result = try ChildProcess.run(binary, arguments, environment: environment)
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(binary, arguments, environment: environment)
    }

    /// Every record the file sink wrote, in file order.
    static func shipped(_ directory: String) throws -> [JSONValue] {
        let names = (try FileSystem.list(directory) ?? []).filter { $0.hasPrefix("edgelog-") && $0.hasSuffix(".ndjson.gz") }.sorted()
        var records: [JSONValue] = []
        for name in names {
            let plain = try Gzip.decompress(try FileSystem.read(directory + "/" + name)!)
            for line in plain.split(separator: 0x0A) { records.append(try JSONParser.parse(Array(line))) }
        }
        return records
    }

    static func writeConfig(_ dir: TemporaryDirectory, _ json: String) throws -> String {
        let path = dir.file("config.json")
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
