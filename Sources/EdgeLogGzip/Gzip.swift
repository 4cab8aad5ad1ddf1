import CZlib

/// gzip (RFC 1952) through zlib: whole buffers for batches, a streaming writer for files.
public enum Gzip {
    /// An error from zlib, with zlib's own code and message.
    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public let operation: String
        public var description: String { "zlib \(operation) failed with code \(code)" }
    }

    /// Compresses `input` into one gzip member.
    public static func compress(_ input: [UInt8], level: Int = 6) throws -> [UInt8] {
        var stream = z_stream()
        try check(
            deflateInit2_(
                &stream, Int32(level), Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)), "deflateInit2")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        let produced: Int = try input.withUnsafeBufferPointer { inBuf in
            try output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let rc = deflate(&stream, Z_FINISH)
                guard rc == Z_STREAM_END else { throw Failure(code: rc, operation: "deflate") }
                return outBuf.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Decompresses every gzip member of `input` (concatenated members are one stream, as `gzip -d` reads them).
    /// `limit` bounds the output so a hostile input cannot exhaust memory.
    public static func decompress(_ input: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(input.count * 4, 4096)))
        var stream = z_stream()
        try check(inflateInit2_(&stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)), "inflateInit2")
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let (rc, got): (Int32, Int) = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    return (rc, out.count - Int(stream.avail_out))
                }
                if output.count + got > limit { throw Failure(code: Z_BUF_ERROR, operation: "inflate (output over limit)") }
                output.append(contentsOf: chunk[0..<got])
                if rc == Z_STREAM_END {
                    if stream.avail_in == 0 { return }
                    try check(inflateReset(&stream), "inflateReset")
                    continue
                }
                guard rc == Z_OK || (rc == Z_BUF_ERROR && got > 0) else {
                    throw Failure(code: rc, operation: stream.avail_in == 0 ? "inflate (truncated input)" : "inflate")
                }
            }
        }
        return output
    }

    static func check(_ rc: Int32, _ operation: String) throws {
        guard rc == Z_OK else { throw Failure(code: rc, operation: operation) }
    }
}
