/// A spool file is one gzip member (RFC 1952) whose header carries, in its FEXTRA field, two subfields:
/// - `ES` (8 bytes): a CRC-32 of the whole file, these four bytes counted as zeros, and the file's length (both
///   little-endian). Checked before the batch goes to a sink: a file damaged on disk (a flipped bit, a torn or
///   cut write) is caught with one pass of CRC-32 over the compressed bytes, instead of decompressing it to
///   check the gzip trailer's CRC of the uncompressed data (ten times the bytes, and inflating costs more).
/// - `EL`: the source positions the batch covers (JSON). The spool file is therefore its own commit record: once
///   it is on disk, its positions are committed, with no checkpoint write in between.
///
/// `zcat` still reads the file (readers skip FEXTRA); before sending, the header is put back to the plain 10 bytes.
/// Files written before the checksum existed have only `EL` (or nothing): they are checked by decompressing.
public enum SpoolRecord {
    static let positionsID: (UInt8, UInt8) = (UInt8(ascii: "E"), UInt8(ascii: "L"))
    static let checksumID: (UInt8, UInt8) = (UInt8(ascii: "E"), UInt8(ascii: "S"))
    /// FEXTRA holds at most 65,535 bytes, the checksum subfield takes 12 and the positions' own header 4;
    /// positions beyond that are committed through the checkpoint file instead.
    public static let maxPositionBytes = 65_535 - 12 - 4

    /// The spool file for `gzip` (a plain member as the compressor made it, header flags 0): the checksum and, if
    /// they fit, `positions` in its header. `embedded` tells whether the positions are in. Nil if `gzip` is not a
    /// plain gzip member (it is then stored as it is and checked by decompressing).
    public static func make(_ gzip: [UInt8], positions: [String: SourcePosition]) -> (bytes: [UInt8], embedded: Bool)? {
        guard gzip.count >= 18, gzip[0] == 0x1F, gzip[1] == 0x8B, gzip[2] == 8, gzip[3] == 0 else { return nil }
        var data: [UInt8] = []
        if !positions.isEmpty {
            let document: JSONValue = .object(positions.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value.json) })
            document.write(to: &data)
            if data.count > maxPositionBytes { data = [] }
        }
        let embedded = !data.isEmpty
        let xlen = 12 + (embedded ? 4 + data.count : 0)
        let total = gzip.count + 2 + xlen
        guard total <= Int(UInt32.max) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out.append(contentsOf: gzip[0..<3])
        out.append(0x04)  // FLG.FEXTRA
        out.append(contentsOf: gzip[4..<10])
        appendLE16(xlen, to: &out)
        out.append(checksumID.0)
        out.append(checksumID.1)
        appendLE16(8, to: &out)
        appendLE32(0, to: &out)  // the CRC, filled in below
        appendLE32(UInt32(total), to: &out)
        if embedded {
            out.append(positionsID.0)
            out.append(positionsID.1)
            appendLE16(data.count, to: &out)
            out.append(contentsOf: data)
        }
        out.append(contentsOf: gzip[10...])
        let crc = CRC32.checksum(out)
        out[16] = UInt8(crc & 0xFF)
        out[17] = UInt8((crc >> 8) & 0xFF)
        out[18] = UInt8((crc >> 16) & 0xFF)
        out[19] = UInt8(crc >> 24)
        return (out, embedded)
    }

    /// What a check of a spool file found.
    public enum Verdict: Sendable, Equatable {
        /// The checksum matches: the bytes are the ones written.
        case intact
        /// No checksum to go by: well-formed gzip framing without one (written before it existed, or a dead letter
        /// put back), or not gzip at all (a compressor that does not gzip; or the magic itself damaged).
        /// Decompress to check.
        case unchecked
        /// Not what was written; why.
        case damaged(String)
    }

    /// Checks the gzip framing and, if the file has one, its checksum and length.
    public static func verify(_ bytes: [UInt8]) -> Verdict {
        guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else { return .unchecked }
        let header: Header
        switch parse(bytes) {
        case .failure(let malformed): return .damaged(malformed.reason)
        case .success(let parsed): header = parsed
        }
        guard let sum = header.checksum else { return .unchecked }
        let stored = UInt32(bytes[sum]) | UInt32(bytes[sum + 1]) << 8 | UInt32(bytes[sum + 2]) << 16 | UInt32(bytes[sum + 3]) << 24
        let length = UInt32(bytes[sum + 4]) | UInt32(bytes[sum + 5]) << 8 | UInt32(bytes[sum + 6]) << 16 | UInt32(bytes[sum + 7]) << 24
        guard Int(length) == bytes.count else {
            return .damaged("the file has \(bytes.count) bytes, \(length) were written (cut or extended)")
        }
        var crc = CRC32.checksum(bytes[0..<sum])
        crc = CRC32.checksum([0, 0, 0, 0], continuing: crc)
        crc = CRC32.checksum(bytes[(sum + 4)...], continuing: crc)
        guard crc == stored else {
            return .damaged("checksum mismatch (CRC-32 \(hex(crc)), \(hex(stored)) was written): the bytes changed on disk")
        }
        return .intact
    }

    /// The positions a spool file carries (empty if none, or if any of them is unreadable or out of range).
    public static func positions(in bytes: [UInt8]) -> [String: SourcePosition] {
        guard case .success(let header) = parse(bytes), let (start, size) = header.positions,
            let doc = try? JSONParser.parse(Array(bytes[start..<(start + size)])), let members = doc.objectValue
        else { return [:] }
        var result: [String: SourcePosition] = [:]
        for (key, value) in members {
            guard let position = SourcePosition(json: value) else { return [:] }
            result[key] = position
        }
        return result
    }

    /// The member with its header put back to the plain 10 bytes: what goes on the wire.
    public static func wireBytes(_ bytes: [UInt8]) -> [UInt8] {
        guard case .success(let header) = parse(bytes), let (start, length) = header.extra else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count - length - 2)
        out.append(contentsOf: bytes[0..<3])
        out.append(bytes[3] & ~0x04)
        out.append(contentsOf: bytes[4..<10])
        out.append(contentsOf: bytes[(start + length)...])
        return out
    }

    /// Why a file's gzip framing is wrong.
    struct Malformed: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Where the parts of a spool file's header are (offsets into the file).
    struct Header {
        /// The FEXTRA content, after XLEN.
        var extra: (start: Int, length: Int)?
        /// The CRC's four bytes (the length follows).
        var checksum: Int?
        /// The positions' JSON.
        var positions: (start: Int, length: Int)?
    }

    /// The gzip framing: magic, deflate method, no reserved flags, the FEXTRA subfields exactly filling XLEN, room
    /// for deflate data and the 8-byte trailer. Every length is checked against the file before it is used.
    static func parse(_ bytes: [UInt8]) -> Result<Header, Malformed> {
        guard bytes.count >= 18 else { return .failure(Malformed("too short for a gzip member (\(bytes.count) bytes)")) }
        guard bytes[0] == 0x1F, bytes[1] == 0x8B, bytes[2] == 8 else { return .failure(Malformed("not a gzip member (bad magic)")) }
        let flags = bytes[3]
        guard flags & 0xE0 == 0 else { return .failure(Malformed("reserved gzip header flags set")) }
        var header = Header()
        var end = 10
        if flags & 0x04 != 0 {
            let xlen = Int(bytes[10]) | Int(bytes[11]) << 8
            end = 12 + xlen
            guard end + 10 <= bytes.count else { return .failure(Malformed("the header's extra field runs past the file")) }
            header.extra = (12, xlen)
            var i = 12
            while i < end {
                guard i + 4 <= end else { return .failure(Malformed("a header subfield is cut")) }
                let size = Int(bytes[i + 2]) | Int(bytes[i + 3]) << 8
                guard i + 4 + size <= end else { return .failure(Malformed("a header subfield runs past the extra field")) }
                if bytes[i] == checksumID.0 && bytes[i + 1] == checksumID.1 {
                    guard size == 8 else { return .failure(Malformed("the checksum subfield has \(size) bytes, not 8")) }
                    header.checksum = i + 4
                } else if bytes[i] == positionsID.0 && bytes[i + 1] == positionsID.1 {
                    header.positions = (i + 4, size)
                }
                i += 4 + size
            }
        }
        guard end + 10 <= bytes.count else { return .failure(Malformed("no room for deflate data and the gzip trailer")) }
        return .success(header)
    }

    private static func appendLE16(_ value: Int, to out: inout [UInt8]) {
        out.append(UInt8(value & 0xFF))
        out.append(UInt8((value >> 8) & 0xFF))
    }

    private static func appendLE32(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((value >> UInt32(shift)) & 0xFF)) }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
