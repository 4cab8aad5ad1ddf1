import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Logging

struct TestCompressor: BatchCompressor {
    func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { try Gzip.compress(bytes, level: level) }
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes) }
}

let testLogger = Logger(label: "test")

/// A configuration for pipeline tests: state in `dir`, small batches flushed quickly.
func testConfiguration(_ dir: TemporaryDirectory, maxBytes: Int64 = 16 * 1024) -> Configuration {
    testConfiguration(stateDirectory: dir.path, maxBytes: maxBytes)
}

func testConfiguration(stateDirectory: String, maxBytes: Int64 = 16 * 1024) -> Configuration {
    var c = Configuration()
    c.stateDirectory = stateDirectory
    c.batch.maxBytes = maxBytes
    c.batch.flushIntervalSeconds = 0.05
    return c
}

/// A pipeline over `sources` into `sink`, batches compressed with the test compressor.
func testPipeline(_ configuration: Configuration, sources: [any LogSource], sink: any Sink) throws -> Pipeline {
    try Pipeline(
        configuration: configuration, host: HostIdentity(computer: "t"), sources: sources, sink: sink,
        compressor: TestCompressor(), logger: testLogger)
}

/// A chunk of `count` small records from `source`, positions as cursors "source:n".
func makeChunk(source: String, from start: Int, count: Int, size: Int = 50) -> RecordChunk {
    var chunk = RecordChunk(source: source)
    for i in start..<(start + count) {
        let body = "{\"n\":\(i),\"pad\":\"" + String(repeating: "x", count: max(0, size - 20)) + "\"}"
        chunk.data.append(contentsOf: body.utf8)
        chunk.closeRecord(at: .cursor("\(source):\(i)"))
    }
    return chunk
}

/// A source that emits `total` records in chunks, then (follow mode) waits to be cancelled.
struct CountingSource: LogSource {
    let name: String
    let total: Int
    let perChunk: Int

    func run(_ context: SourceContext) async throws {
        var start = 0
        if case .cursor(let c)? = context.checkpoints[name], let n = Int(c.split(separator: ":").last ?? "") {
            start = n + 1
        }
        while start < total {
            let count = min(perChunk, total - start)
            await context.emit(makeChunk(source: name, from: start, count: count))
            start += count
        }
        if context.mode == .follow {
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
