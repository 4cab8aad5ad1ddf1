import EdgeLogCore
import EdgeLogGzip

/// The batch compressor of pipeline and sink tests: EdgeLog's own gzip, level as asked.
public struct TestCompressor: BatchCompressor {
    public init() {}
    public func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { try Gzip.compress(bytes, level: level) }
    public func decompress(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes) }
}
