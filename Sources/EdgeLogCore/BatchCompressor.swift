/// gzip for batches. Core has no C dependency: the implementation (zlib) is given by the application.
public protocol BatchCompressor: Sendable {
    func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8]
    func decompress(_ bytes: [UInt8]) throws -> [UInt8]
}
