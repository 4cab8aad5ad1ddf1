import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Logging

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
