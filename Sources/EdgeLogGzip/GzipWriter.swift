import CZlib

/// Streams gzip output in fixed-size pieces: memory stays the same whatever the input size.
/// Compressed bytes are handed to `sink` as they are produced.
public final class GzipWriter {
    private var stream = z_stream()
    private var buffer: [UInt8]
    private var finished = false
    private let sink: ([UInt8]) throws -> Void

    public init(level: Int = 6, chunkSize: Int = 64 * 1024, sink: @escaping ([UInt8]) throws -> Void) throws {
        self.sink = sink
        self.buffer = [UInt8](repeating: 0, count: chunkSize)
        try Gzip.check(
            deflateInit2_(
                &stream, Int32(level), Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)), "deflateInit2")
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `bytes`, handing every full output chunk to the sink.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        stream.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: UInt8.self).baseAddress)
        stream.avail_in = UInt32(bytes.count)
        try pump(flush: Z_NO_FLUSH)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Ends the gzip member (writes the trailer). Further writes are errors.
    public func finish() throws {
        guard !finished else { return }
        stream.next_in = nil
        stream.avail_in = 0
        try pump(flush: Z_FINISH)
        finished = true
    }

    private func pump(flush: Int32) throws {
        while true {
            let (rc, produced): (Int32, Int) = buffer.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                let rc = deflate(&stream, flush)
                return (rc, out.count - Int(stream.avail_out))
            }
            if produced > 0 { try sink(Array(buffer[0..<produced])) }
            if flush == Z_FINISH {
                if rc == Z_STREAM_END { return }
                guard rc == Z_OK || rc == Z_BUF_ERROR else { throw Gzip.Failure(code: rc, operation: "deflate") }
            } else {
                guard rc == Z_OK || rc == Z_BUF_ERROR else { throw Gzip.Failure(code: rc, operation: "deflate") }
                if stream.avail_in == 0 && stream.avail_out != 0 { return }
            }
        }
    }
}
