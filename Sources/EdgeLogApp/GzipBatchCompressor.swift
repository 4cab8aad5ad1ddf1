import EdgeLogCore
import EdgeLogGzip

/// Batch compression: libdeflate for batches (plain gzip, about twice as fast as zlib at the same level),
/// zlib to read batches back.
public struct GzipBatchCompressor: BatchCompressor {
    public init() {}
    public func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { try BatchGzip.compress(bytes, level: level) }
    public func decompress(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes) }
}
