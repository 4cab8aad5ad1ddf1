/// How records are laid out in a batch: what the sink sends as the request body.
public enum BatchFormat: String, Sendable, Equatable {
    /// `[rec,rec,…]`: the Logs Ingestion API's body.
    case jsonArray = "json"
    /// One record per line: the file sink's and the `http` sink's NDJSON.
    case ndjson = "ndjson"

    /// Converts a batch's uncompressed bytes from one layout to the other. Records never contain a raw
    /// newline (the encoder escapes it), so NDJSON splits on newlines; arrays are split by a scan that
    /// tracks strings, so a `},{` inside a message is not taken for a boundary.
    public static func convert(_ bytes: [UInt8], from: BatchFormat, to: BatchFormat) -> [UInt8] {
        guard from != to else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 2)
        switch (from, to) {
        case (.ndjson, .jsonArray):
            out.append(UInt8(ascii: "["))
            var first = true
            for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: line)
            }
            out.append(UInt8(ascii: "]"))
        default:
            var depth = 0
            var inString = false
            var escaped = false
            var start = -1
            for (i, c) in bytes.enumerated() {
                if inString {
                    if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                    continue
                }
                switch c {
                case 0x22: inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if depth == 1 && start < 0 { start = i }
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 1 && start >= 0 {
                        out.append(contentsOf: bytes[start...i])
                        out.append(0x0A)
                        start = -1
                    }
                default: break
                }
            }
        }
        return out
    }
}
