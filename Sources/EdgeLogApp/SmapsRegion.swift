/// One mapping of `/proc/<pid>/smaps`, as far as trimming needs it.
struct SmapsRegion: Equatable {
    let start: UInt
    let end: UInt
    let residentBytes: Int

    /// The mappings of `smaps` (its text) that can be dropped without losing anything: backed by `executable` or a
    /// shared library (`.so` in the name), not writable, and with no anonymous (private, copied) page in them.
    static func droppableCode(_ smaps: [UInt8], executable: String) -> [SmapsRegion] {
        var result: [SmapsRegion] = []
        var current: (start: UInt, end: UInt, candidate: Bool)?
        var rss = 0
        var anonymous = 0
        func finish() {
            if let c = current, c.candidate, anonymous == 0, rss > 0 {
                result.append(SmapsRegion(start: c.start, end: c.end, residentBytes: rss))
            }
            current = nil
        }
        for line in smaps.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if let dash = first.firstIndex(of: UInt8(ascii: "-")),
                let start = UInt(String(decoding: first[first.startIndex..<dash], as: UTF8.self), radix: 16),
                let end = UInt(String(decoding: first[(dash + 1)...], as: UTF8.self), radix: 16), end > start
            {
                finish()
                let perms = fields.count > 1 ? Array(fields[1]) : []
                let path = fields.count > 5 ? String(decoding: line[fields[5].startIndex...], as: UTF8.self) : ""
                let readOnly = perms.count == 4 && perms[0] == UInt8(ascii: "r") && perms[1] == UInt8(ascii: "-")
                let code = (!executable.isEmpty && path == executable) || (path.hasPrefix("/") && path.contains(".so"))
                current = (start, end, readOnly && code)
                rss = 0
                anonymous = 0
                continue
            }
            guard current != nil, fields.count >= 2 else { continue }
            let kilobytes = Int(String(decoding: fields[1], as: UTF8.self)) ?? 0
            if first.elementsEqual("Rss:".utf8) {
                rss = kilobytes * 1024
            } else if first.elementsEqual("Anonymous:".utf8) {
                anonymous = kilobytes
            }
        }
        finish()
        return result
    }
}
