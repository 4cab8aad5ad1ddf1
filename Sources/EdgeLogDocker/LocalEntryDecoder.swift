import EdgeLogCore

/// Hand-written decoder for Docker's `local` logging driver: each entry is a 4-byte big-endian length, a protobuf
/// `LogEntry` of that length, and the length again. The message (moby's `logdriver/entry.proto`):
///
/// ```
/// message LogEntry { string source = 1; int64 time_nano = 2; bytes line = 3; bool partial = 4;
///                    PartialLogEntryMetadata partial_log_metadata = 5; repeated LogAttr attrs = 6; }
/// message PartialLogEntryMetadata { bool last = 1; string id = 2; int32 ordinal = 3; }
/// message LogAttr { string key = 1; string value = 2; }
/// ```
///
/// `line` holds the output without its newline. dockerd sets `partial` on every piece of a message it had to
/// split (16 KiB each) and `partial_log_metadata.last` on its final piece. The decoder fills a `DockerLine` the way
/// the json-file decoder does, so the same code rejoins and ships both: `log` ends with a newline when the entry
/// ends a message, `time` is the entry's time in RFC 3339, `attrs` a JSON object when the entry has attributes.
public enum LocalEntryDecoder {
    /// Longest entry accepted (dockerd's are 16 KiB of output plus a few fields): a longer length is damage.
    public static let maxEntryBytes = 1 << 20
    /// Bytes around an entry: its length before and after.
    public static let framingBytes = 8

    /// The length of the entry framed at `offset` of `bytes` (the 4 bytes there), if those bytes are there and the
    /// length is possible (1 … `maxEntryBytes`).
    @inline(__always)
    public static func length(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Int? {
        guard offset >= 0, bytes.count - offset >= 4 else { return nil }
        let n = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        return n > 0 && n <= maxEntryBytes ? n : nil
    }

    /// The entry framed at `offset`, if it is all there and whole: both lengths agree and the message decodes.
    /// Returns its size with the framing, and the decoded entry in `line`.
    public static func entry(
        _ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, into line: inout DockerLine
    ) -> (size: Int, timeNanos: Int64?)? {
        guard let n = length(bytes, at: offset), bytes.count - offset >= n + framingBytes,
            length(bytes, at: offset + 4 + n) == n
        else { return nil }
        var time: Int64?
        guard decode(UnsafeBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 4 + n)]), into: &line, time: &time)
        else { return nil }
        return (n + framingBytes, time)
    }

    /// Decodes one `LogEntry` message (without its framing) into `line`, and its time (nil when it has none).
    /// False if it is not a valid message.
    public static func decode(_ b: UnsafeBufferPointer<UInt8>, into line: inout DockerLine, time: inout Int64?) -> Bool {
        line.reset()
        time = nil
        var p = 0
        var partial = false
        var last = false
        var lineRange = 0..<0
        var source = 0..<0
        var attrsSeen = false
        while p < b.count {
            guard let tag = varint(b, &p) else { return false }
            let field = tag >> 3
            let wire = tag & 7
            switch (field, wire) {
            case (1, 2):
                guard let r = delimited(b, &p) else { return false }
                source = r
            case (2, 0):
                guard let v = varint(b, &p) else { return false }
                time = Int64(bitPattern: v)
            case (3, 2):
                guard let r = delimited(b, &p) else { return false }
                lineRange = r
            case (4, 0):
                guard let v = varint(b, &p) else { return false }
                partial = v != 0
            case (5, 2):
                guard let r = delimited(b, &p) else { return false }
                guard let l = metadataLast(UnsafeBufferPointer(rebasing: b[r])) else { return false }
                last = l
            case (6, 2):
                guard let r = delimited(b, &p) else { return false }
                guard appendAttr(UnsafeBufferPointer(rebasing: b[r]), to: &line.attrs, first: !attrsSeen) else {
                    return false
                }
                attrsSeen = true
            default:
                guard skip(b, &p, wire: wire) else { return false }
            }
        }
        // dockerd names the stream of every entry: an entry without one is not an entry.
        guard !source.isEmpty else { return false }
        if attrsSeen { line.attrs.append(UInt8(ascii: "}")) }
        line.log.append(contentsOf: UnsafeBufferPointer(rebasing: b[lineRange]))
        if !partial || last { line.log.append(0x0A) }
        let s = UnsafeBufferPointer(rebasing: b[source])
        line.stream = s.elementsEqual("stdout".utf8) ? .stdout : s.elementsEqual("stderr".utf8) ? .stderr : .other
        if let time {
            let (seconds, nanos) = time.quotientAndRemainder(dividingBy: 1_000_000_000)
            Timestamp.appendRFC3339(seconds: seconds, nanos: Int32(nanos), to: &line.time)
        }
        return true
    }

    /// `last` of a `PartialLogEntryMetadata` (the id and ordinal are not needed: pieces come in order, one
    /// message at a time per stream).
    private static func metadataLast(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        var p = 0
        var last = false
        while p < b.count {
            guard let tag = varint(b, &p) else { return nil }
            if tag == (1 << 3 | 0) {
                guard let v = varint(b, &p) else { return nil }
                last = v != 0
            } else {
                guard skip(b, &p, wire: tag & 7) else { return nil }
            }
        }
        return last
    }

    /// Appends `"key":"value"` of a `LogAttr` to a JSON object being written (its opening brace first).
    private static func appendAttr(_ b: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], first: Bool) -> Bool {
        var p = 0
        var key = 0..<0
        var value = 0..<0
        while p < b.count {
            guard let tag = varint(b, &p) else { return false }
            switch tag {
            case 1 << 3 | 2:
                guard let r = delimited(b, &p) else { return false }
                key = r
            case 2 << 3 | 2:
                guard let r = delimited(b, &p) else { return false }
                value = r
            default:
                guard skip(b, &p, wire: tag & 7) else { return false }
            }
        }
        out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
        JSONWriter.appendQuoted(String(decoding: UnsafeBufferPointer(rebasing: b[key]), as: UTF8.self), to: &out)
        out.append(UInt8(ascii: ":"))
        JSONWriter.appendQuoted(String(decoding: UnsafeBufferPointer(rebasing: b[value]), as: UTF8.self), to: &out)
        return true
    }

    @inline(__always)
    static func varint(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while p < b.count && shift < 64 {
            let byte = b[p]
            p += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }

    /// A length-delimited field's bytes, in range.
    @inline(__always)
    private static func delimited(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int) -> Range<Int>? {
        guard let n = varint(b, &p), n <= UInt64(b.count - p) else { return nil }
        let start = p
        p += Int(n)
        return start..<p
    }

    private static func skip(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, wire: UInt64) -> Bool {
        switch wire {
        case 0: return varint(b, &p) != nil
        case 1:
            guard b.count - p >= 8 else { return false }
            p += 8
            return true
        case 2: return delimited(b, &p) != nil
        case 5:
            guard b.count - p >= 4 else { return false }
            p += 4
            return true
        default: return false
        }
    }
}

/// Entry times of the `local` driver's files (for the rotation chain's loss estimates).
struct LocalLogClock: EntryClock {
    var framedEntries: Bool { true }

    func firstTime(_ head: UnsafeBufferPointer<UInt8>) -> Int64? {
        var line = DockerLine()
        var p = 0
        for _ in 0..<8 {
            guard let e = LocalEntryDecoder.entry(head, at: p, into: &line) else { return nil }
            if let t = e.timeNanos { return t }
            p += e.size
        }
        return nil
    }

    func lastTime(_ tail: UnsafeBufferPointer<UInt8>) -> Int64? {
        // From the end: the trailing length says where the last entry begins (`tail` may begin inside one).
        var line = DockerLine()
        var end = tail.count
        for _ in 0..<8 {
            guard let n = LocalEntryDecoder.length(tail, at: end - 4) else { return nil }
            let start = end - n - LocalEntryDecoder.framingBytes
            guard start >= 0, let e = LocalEntryDecoder.entry(tail, at: start, into: &line) else { return nil }
            if let t = e.timeNanos { return t }
            end = start
        }
        return nil
    }

    func entries(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var p = 0
        while let n = LocalEntryDecoder.length(bytes, at: p), bytes.count - p >= n + LocalEntryDecoder.framingBytes {
            count += 1
            p += n + LocalEntryDecoder.framingBytes
        }
        return count
    }
}
