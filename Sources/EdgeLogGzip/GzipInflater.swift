import CZlib

/// Streams gzip input back to its plain bytes in caller-sized pieces: memory stays the same whatever the file size.
/// Concatenated members are read as one stream (as `gzip -d` does).
public final class GzipInflater {
    private var stream = z_stream()
    private var ended = false

    public init() throws {
        try Gzip.check(inflateInit2_(&stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)), "inflateInit2")
    }

    deinit { inflateEnd(&stream) }

    /// True once a member ended and no byte of another followed yet.
    public var atMemberEnd: Bool { ended }

    /// Inflates from `input` into `output`. Returns how many input bytes were used and how many output bytes
    /// were made; both may be less than offered (call again with the rest). Throws on damaged input.
    public func inflate(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws -> (consumed: Int, produced: Int) {
        guard !output.isEmpty else { return (0, 0) }
        var consumed = 0
        var produced = 0
        while consumed < input.count && produced < output.count {
            if ended {
                // Another member follows the one that ended.
                try Gzip.check(inflateReset(&stream), "inflateReset")
                ended = false
            }
            stream.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + consumed)
            stream.avail_in = UInt32(min(input.count - consumed, Int(UInt32.max)))
            stream.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self) + produced
            stream.avail_out = UInt32(min(output.count - produced, Int(UInt32.max)))
            let inBefore = stream.avail_in
            let outBefore = stream.avail_out
            let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
            consumed += Int(inBefore - stream.avail_in)
            produced += Int(outBefore - stream.avail_out)
            if rc == Z_STREAM_END {
                ended = true
                continue
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else { throw Gzip.Failure(code: rc, operation: "inflate") }
            if inBefore == stream.avail_in && outBefore == stream.avail_out { break }
        }
        return (consumed, produced)
    }
}
