/// A spool file is one gzip member (RFC 1952) whose header carries, in an FEXTRA subfield `EL`, the source
/// positions the batch covers. The spool file is therefore its own commit record: once it is on disk, its
/// positions are committed, with no checkpoint write in between. `zcat` still reads it; before sending,
/// the header is put back to the plain 10 bytes.
public enum SpoolRecord {
    static let subfieldID: (UInt8, UInt8) = (UInt8(ascii: "E"), UInt8(ascii: "L"))
    /// FEXTRA holds at most 65,535 bytes; positions beyond that are committed through the checkpoint file instead.
    public static let maxPositionBytes = 65_535 - 4

    /// Inserts `positions` into a plain gzip member's header. Returns nil if `gzip` is not a plain member
    /// (flags other than 0) or the positions do not fit.
    public static func embed(_ positions: [String: SourcePosition], in gzip: [UInt8]) -> [UInt8]? {
        guard gzip.count >= 18, gzip[0] == 0x1F, gzip[1] == 0x8B, gzip[3] == 0 else { return nil }
        let document: JSONValue = .object(positions.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value.json) })
        var data: [UInt8] = []
        document.write(to: &data)
        guard data.count <= maxPositionBytes else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(gzip.count + data.count + 6)
        out.append(contentsOf: gzip[0..<3])
        out.append(0x04)  // FLG.FEXTRA
        out.append(contentsOf: gzip[4..<10])
        let xlen = data.count + 4
        out.append(contentsOf: [UInt8(xlen & 0xFF), UInt8(xlen >> 8), subfieldID.0, subfieldID.1])
        out.append(contentsOf: [UInt8(data.count & 0xFF), UInt8(data.count >> 8)])
        out.append(contentsOf: data)
        out.append(contentsOf: gzip[10...])
        return out
    }

    /// The positions a spool file carries (empty if none).
    public static func positions(in bytes: [UInt8]) -> [String: SourcePosition] {
        guard let (start, length) = extraField(bytes) else { return [:] }
        var i = start
        while i + 4 <= start + length {
            let size = Int(bytes[i + 2]) | Int(bytes[i + 3]) << 8
            if bytes[i] == subfieldID.0 && bytes[i + 1] == subfieldID.1, i + 4 + size <= bytes.count,
                let doc = try? JSONParser.parse(Array(bytes[(i + 4)..<(i + 4 + size)])), let members = doc.objectValue
            {
                var result: [String: SourcePosition] = [:]
                for (key, value) in members { if let p = SourcePosition(json: value) { result[key] = p } }
                return result
            }
            i += 4 + size
        }
        return [:]
    }

    /// The member with its header put back to the plain 10 bytes: what goes on the wire.
    public static func wireBytes(_ bytes: [UInt8]) -> [UInt8] {
        guard let (start, length) = extraField(bytes) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count - length - 2)
        out.append(contentsOf: bytes[0..<3])
        out.append(bytes[3] & ~0x04)
        out.append(contentsOf: bytes[4..<10])
        out.append(contentsOf: bytes[(start + length)...])
        return out
    }

    private static func extraField(_ bytes: [UInt8]) -> (start: Int, length: Int)? {
        guard bytes.count >= 12, bytes[0] == 0x1F, bytes[1] == 0x8B, bytes[3] & 0x04 != 0 else { return nil }
        let length = Int(bytes[10]) | Int(bytes[11]) << 8
        guard 12 + length <= bytes.count else { return nil }
        return (12, length)
    }
}
