import EdgeLogCore
import EdgeLogGzip

/// Batch compression with zlib.
public struct ZlibCompressor: BatchCompressor {
    public init() {}
    public func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { try Gzip.compress(bytes, level: level) }
    public func decompress(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes) }
}
