/// Consecutive spooled batches sent as one call while a backlog drains: their records joined into one body (one
/// JSON array, or NDJSON lines) of at most the batch size, compressed once. The spool files stay as they are
/// (each is deleted only once the call carrying it is confirmed), so merging changes how many calls go out, not
/// what is committed or when.
enum BatchMerger {
    /// The uncompressed size a gzip member gives in its trailer (ISIZE, modulo 2^32), or nil if the bytes are not
    /// a gzip member. Only a hint for choosing which batches go together: `merge` checks the real size.
    static func declaredPlainSize(_ gzip: [UInt8]) -> Int? {
        let n = gzip.count
        guard n >= 18, gzip[0] == 0x1F, gzip[1] == 0x8B else { return nil }
        let size = UInt32(gzip[n - 4]) | UInt32(gzip[n - 3]) << 8 | UInt32(gzip[n - 2]) << 16 | UInt32(gzip[n - 1]) << 24
        return Int(size)
    }

    /// The bytes `parts` add to a body when joined (`[a]` and `[b]` make `[a,b]`: one byte less than the two).
    static func joinedSize(_ sizes: [Int]) -> Int {
        guard !sizes.isEmpty else { return 0 }
        return sizes.reduce(0, +) - (sizes.count - 1)
    }

    /// The parts' records as one compressed body in `format`, numbered as the first part; nil if a part cannot be
    /// read or is not a body of its format, or if the body would be over `limit` bytes, uncompressed or compressed.
    static func merge(
        _ parts: [SinkBatch], as format: BatchFormat, limit: Int, compressor: any BatchCompressor, level: Int
    ) -> SinkBatch? {
        guard let first = parts.first else { return nil }
        var body: [UInt8] = []
        body.reserveCapacity(limit)
        if format == .jsonArray { body.append(UInt8(ascii: "[")) }
        var records = 0
        var joined = 0
        for part in parts {
            guard let read = try? compressor.decompress(part.payload) else { return nil }
            let plain = BatchFormat.convert(read, from: part.format, to: format)
            switch format {
            case .jsonArray:
                guard plain.count >= 2, plain.first == UInt8(ascii: "["), plain.last == UInt8(ascii: "]") else {
                    return nil
                }
                guard plain.count > 2 else { continue }
                if joined > 0 { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: plain[1..<(plain.count - 1)])
            case .ndjson:
                guard !plain.isEmpty else { continue }
                body.append(contentsOf: plain)
                if plain.last != 0x0A { body.append(0x0A) }
            }
            joined += 1
            records += part.records
            if body.count + 1 > limit { return nil }
        }
        if format == .jsonArray { body.append(UInt8(ascii: "]")) }
        guard joined > 0, body.count <= limit, let compressed = try? compressor.compress(body, level: level),
            compressed.count <= limit
        else { return nil }
        return SinkBatch(sequence: first.sequence, payload: compressed, records: records, format: format)
    }
}
