import EdgeLogCore

extension ContainerTailer {
    /// Splits `bytes` (read at file offset `base`) of a `local` driver file into entries and handles each whole
    /// one. An entry not all read yet (being written) waits in `carry`, which always begins at `consumed`.
    func processFramed(_ bytes: UnsafeBufferPointer<UInt8>, base: Int64, into chunk: inout RecordChunk) {
        if carry.isEmpty {
            let used = scanFramed(bytes, base: base, final: false, into: &chunk)
            if used < bytes.count { carry.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[used...])) }
            return
        }
        carry.append(contentsOf: bytes)
        let whole = carry
        carry = []
        let start = consumed
        whole.withUnsafeBufferPointer { b in
            let used = scanFramed(b, base: start, final: false, into: &chunk)
            if used < b.count { carry.append(contentsOf: UnsafeBufferPointer(rebasing: b[used...])) }
        }
    }

    /// The file will not grow any more (rotated away or deleted): what waits in `carry` is read as it is; what is
    /// not a whole entry there (an entry cut short at the end of the file) is skipped and counted.
    func finishFramedCarry(into chunk: inout RecordChunk, end: Int64) {
        guard !carry.isEmpty else { return }
        let whole = carry
        carry = []
        let start = consumed
        whole.withUnsafeBufferPointer { b in
            let used = scanFramed(b, base: start, final: true, into: &chunk)
            if used < b.count {
                tally.malformed += 1
                reportMalformed("an entry cut short at the end of the file (\(b.count - used) bytes skipped)", at: consumed)
            }
        }
        consumed = max(consumed, end)
    }

    /// Entries longer than this are possible but not dockerd's (16 KiB of output and a few fields): one not all
    /// there yet is waited for only while no whole entry follows within what was read (a damaged length must not
    /// hold up what comes after it for a megabyte).
    static let plausibleEntryBytes = 64 * 1024

    /// Handles the whole entries of `b` (at file offset `base`, which is `consumed`) and returns how many bytes
    /// were used up: the rest is an entry still being written. A region that cannot be an entry is skipped up to
    /// the next offset where a whole entry begins, and counted; `final` when nothing will follow `b`.
    private func scanFramed(
        _ b: UnsafeBufferPointer<UInt8>, base: Int64, final: Bool, into chunk: inout RecordChunk
    ) -> Int {
        var p = 0
        let n = b.count
        while p < n {
            if let entry = LocalEntryDecoder.entry(b, at: p, into: &line) {
                let start = base + Int64(p)
                p += entry.size
                consumed = base + Int64(p)
                handleDecoded(lineStart: start, end: consumed, oversize: false, into: &chunk)
                continue
            }
            // Not a whole entry here: one still being written (wait for it), or damage.
            if n - p < 4 { return p }
            var reason: String
            var next: (offset: Int, waiting: Bool)
            if let length = LocalEntryDecoder.length(b, at: p), n - p < length + LocalEntryDecoder.framingBytes, !final {
                if length <= Self.plausibleEntryBytes { return p }
                next = resync(b, from: p + 1, final: final)
                if next.waiting { return p }
                reason = "a length of \(length) bytes not followed by its entry"
            } else {
                reason = framingDamage(b, at: p)
                next = resync(b, from: p + 1, final: final)
            }
            tally.malformed += 1
            reportMalformed("\(next.offset - p) bytes skipped (\(reason))", at: base + Int64(p))
            p = next.offset
            consumed = base + Int64(p)
            if next.waiting { return p }
        }
        return p
    }

    /// Where the next whole entry after damage begins (from `start` on); else where one may begin that is not all
    /// there yet (`waiting`: read on from there once more is written), or the end with `final`.
    private func resync(_ b: UnsafeBufferPointer<UInt8>, from start: Int, final: Bool) -> (offset: Int, waiting: Bool) {
        let n = b.count
        var firstIncomplete: Int?
        var q = start
        while n - q >= 4 {
            if let length = LocalEntryDecoder.length(b, at: q) {
                if n - q < length + LocalEntryDecoder.framingBytes {
                    if firstIncomplete == nil { firstIncomplete = q }
                } else if LocalEntryDecoder.entry(b, at: q, into: &line) != nil {
                    return (q, false)
                }
            }
            q += 1
        }
        if final { return (n, false) }
        return (firstIncomplete ?? q, true)
    }

    /// Why the bytes at `p` are not an entry (for the log line).
    private func framingDamage(_ b: UnsafeBufferPointer<UInt8>, at p: Int) -> String {
        guard b.count - p >= 4 else { return "a cut length" }
        let n = Int(b[p]) << 24 | Int(b[p + 1]) << 16 | Int(b[p + 2]) << 8 | Int(b[p + 3])
        if n == 0 { return "an entry of length zero" }
        if n > LocalEntryDecoder.maxEntryBytes { return "a length of \(n) bytes, over \(LocalEntryDecoder.maxEntryBytes)" }
        if b.count - p < n + LocalEntryDecoder.framingBytes { return "an entry cut short" }
        if LocalEntryDecoder.length(b, at: p + 4 + n) != n { return "the lengths before and after an entry differ" }
        return "an entry whose message does not decode"
    }
}
