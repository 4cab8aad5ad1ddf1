import EdgeLogCore
import EdgeLogDocker
import EdgeLogGzip
import EdgeLogTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// What EdgeLog shipped, record by record (container, stream, message, time), for comparing with what a
/// container wrote. Batches come uncompressed (the tests' identity compressor), as NDJSON.
final class ShippedRecords: Sink, Sendable {
    struct Record: Equatable {
        var container: String
        var stream: String
        var message: String
        var time: String
        var level: Int
    }
    private let state = Mutex<[Record]>([])

    var name: String { "shipped" }
    var format: BatchFormat { .ndjson }
    var records: [Record] { state.withLock { $0 } }
    var count: Int { state.withLock { $0.count } }

    func messages(of container: String) -> [String] { records.filter { $0.container == container }.map(\.message) }

    func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        var parsed: [Record] = []
        for line in batch.payload.split(separator: 0x0A) {
            guard let doc = try? JSONParser.parse(Array(line)) else { return .permanent(reason: "not JSON", detail: "") }
            parsed.append(
                Record(
                    container: doc["ContainerId"]?.stringValue ?? "", stream: doc["Stream"]?.stringValue ?? "",
                    message: doc["Message"]?.stringValue ?? "", time: doc["TimeGenerated"]?.stringValue ?? "",
                    level: Int(doc["Level"]?.intValue ?? -1)))
        }
        state.withLock { $0.append(contentsOf: parsed) }
        return .delivered
    }
}

/// A pipeline reading a private dockerd's containers folder into `ShippedRecords`.
final class RealDockerHarness: @unchecked Sendable {
    let engine: DockerEngine
    let dir = TemporaryDirectory(prefix: "edgelog-realdocker")
    let sink = ShippedRecords()
    var configuration = Configuration()
    /// Containers this harness starts are named `<prefix>-<n>`, and only they are collected (the engine is shared by
    /// tests running at once).
    let prefix = "edgelog-\(UInt32.random(in: 0...UInt32.max))"
    var containers: [String] = []

    init() async throws {
        engine = try await DockerEngine.shared()
        configuration.stateDirectory = dir.path + "/state"
        configuration.docker.containersDirectory = engine.containersDirectory
        configuration.docker.excludeSelf = false
        configuration.docker.partialFlushSeconds = 0.5
        configuration.batch.flushIntervalSeconds = 0.05
        // Records are told apart by their full container id (what `docker run` prints).
        configuration.records.containerId = "full"
    }

    /// Starts a container (collected by this harness's pipelines).
    func run(
        _ script: String, logDriver: String = "json-file", logOptions: [String: String] = [:], extra: [String] = []
    ) throws -> String {
        let name = "\(prefix)-\(containers.count)"
        containers.append(name)
        return try engine.run(script, name: name, logDriver: logDriver, logOptions: logOptions, extra: extra)
    }

    func pipeline(counters: Counters = Counters()) throws -> Pipeline {
        var c = configuration
        c.docker.include = [prefix + "-*"]
        return try Pipeline(
            configuration: c, host: HostIdentity(computer: "host"),
            sources: [
                DockerSource(
                    settings: c.docker, environment: [:], records: c.records, filters: c.filters, redaction: c.redaction)
            ], sink: sink,
            compressor: DockerSourceTests.Identity(), counters: counters, logger: Logger(label: "realdocker"))
    }

    deinit {
        for name in containers { try? engine.remove(name) }
    }

    /// Every message still in the container's json-file logs (rotated files, compressed or not, and the live one),
    /// oldest first, pieces of a message rejoined, without their newline.
    func onDisk(_ id: String) throws -> [String] { try onDiskEntries(id).map(\.message) }

    /// The same with each message's stream and time (of its first piece).
    func onDiskEntries(_ id: String) throws -> [(stream: String, message: String, time: String)] {
        let directory = engine.directory(of: id)
        let base = id + "-json.log"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        var chain: [(index: Int, name: String)] = []
        for name in names where name.hasPrefix(base) {
            var rest = String(name.dropFirst(base.count))
            if rest.hasSuffix(".gz") {
                // Skip a .gz that dockerd is still writing (the plain file is still there).
                if names.contains(String(name.dropLast(3))) { continue }
                rest.removeLast(3)
            }
            guard let index = rest.isEmpty ? 0 : Int(rest.dropFirst()) else { continue }
            chain.append((index, name))
        }
        var messages: [(stream: String, message: String, time: String)] = []
        var open: [String: (String, String)] = [:]
        for (_, name) in chain.sorted(by: { $0.index > $1.index }) {
            var bytes = try FileSystem.read(directory + "/" + name, limit: 1 << 30) ?? []
            if name.hasSuffix(".gz") { bytes = try Gzip.decompress(bytes, limit: 1 << 30) }
            for line in bytes.split(separator: 0x0A) {
                let doc = try JSONParser.parse(Array(line))
                let stream = doc["stream"]?.stringValue ?? ""
                let time = open[stream]?.1 ?? doc["time"]?.stringValue ?? ""
                let log = (open[stream]?.0 ?? "") + (doc["log"]?.stringValue ?? "")
                if log.utf8.last == 0x0A {
                    messages.append((stream, String(decoding: log.utf8.dropLast(), as: UTF8.self), time))
                    open[stream] = nil
                } else {
                    open[stream] = (log, time)
                }
            }
        }
        messages += open.sorted { $0.key < $1.key }.map { ($0.key, $0.value.0, $0.value.1) }
        return messages
    }
}

/// The reason the real-dockerd tests are skipped, for the skip message.
let realDockerUnavailable = DockerEngine.unavailableReason ?? ""
