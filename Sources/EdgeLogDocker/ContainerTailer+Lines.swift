import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

extension ContainerTailer {
    /// Longest physical line kept whole; past it only the head is kept (a Docker line holds at most 16 KiB of
    /// message, so only foreign writers get here).
    var maxLineBytes: Int { Int(settings.maxMessageBytes) * 2 + 64 * 1024 }

    /// Splits `bytes` (read at file offset `base`) into lines and handles each complete one.
    func process(_ bytes: UnsafeBufferPointer<UInt8>, base: Int64, into chunk: inout RecordChunk) {
        var start = 0
        let n = bytes.count
        while start < n {
            let found = memchr(bytes.baseAddress! + start, 0x0A, n - start)
            guard let found else {
                appendCarry(UnsafeBufferPointer(rebasing: bytes[start..<n]))
                return
            }
            let end = bytes.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
            let lineEnd = base + Int64(end) + 1
            if carry.isEmpty && !carryOversize {
                handleLine(UnsafeBufferPointer(rebasing: bytes[start..<end]), end: lineEnd, oversize: false, into: &chunk)
            } else {
                appendCarry(UnsafeBufferPointer(rebasing: bytes[start..<end]))
                let oversize = carryOversize
                let whole = carry
                whole.withUnsafeBufferPointer { handleLine($0, end: lineEnd, oversize: oversize, into: &chunk) }
                carry.removeAll(keepingCapacity: carry.capacity <= 1 << 20)
                carryOversize = false
            }
            start = end + 1
        }
    }

    private func appendCarry(_ bytes: UnsafeBufferPointer<UInt8>) {
        let room = maxLineBytes - carry.count
        if bytes.count <= room {
            carry.append(contentsOf: bytes)
        } else {
            carry.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<max(0, room)]))
            carryOversize = true
        }
    }

    /// An unterminated last line in a file that will not grow any more (rotated away or deleted).
    func finishCarry(into chunk: inout RecordChunk, file f: OpenFile) {
        let oversize = carryOversize
        let whole = carry
        whole.withUnsafeBufferPointer { handleLine($0, end: f.readOffset, oversize: oversize, into: &chunk) }
        carry.removeAll()
        carryOversize = false
    }

    /// The offset that is safe to commit: not past the start of a partial message still being rejoined.
    func safeOffset(_ offset: Int64) -> Int64 {
        var safe = offset
        for p in pending { if let p { safe = min(safe, p.startOffset) } }
        return safe
    }

    private func handleLine(_ bytes: UnsafeBufferPointer<UInt8>, end: Int64, oversize: Bool, into chunk: inout RecordChunk) {
        let lineStart = consumed
        consumed = end
        if oversize {
            tally.oversize += 1
            guard DockerLineDecoder.decodeHead(bytes, into: &line) else {
                tally.malformed += 1
                reportMalformed("an over-long line of \(bytes.count)+ bytes without a readable log field", at: lineStart)
                return
            }
            // Whatever the head held, the message ends here.
            if line.log.last != 0x0A { line.log.append(0x0A) }
            tally.truncated += 1
        } else if let error = DockerLineDecoder.decode(bytes, into: &line) {
            tally.malformed += 1
            reportMalformed(error.description, at: lineStart)
            return
        }
        let slot = line.stream == .stdout ? 0 : line.stream == .stderr ? 1 : 2
        let isPartial = line.log.last != 0x0A
        let cap = Int(settings.maxMessageBytes)
        if var p = pending[slot] {
            appendCapped(line.log, to: &p.message, truncated: &p.truncated, cap: cap + 1)
            if isPartial {
                pending[slot] = p
                return
            }
            pending[slot] = nil
            if p.truncated { capTruncated(&p.message, cap: cap) }
            emit(message: p.message, time: p.time, stream: line.stream, truncated: p.truncated, end: end, into: &chunk)
        } else if isPartial {
            var p = Pending(message: [], time: line.time, startOffset: lineStart, truncated: false)
            appendCapped(line.log, to: &p.message, truncated: &p.truncated, cap: cap + 1)
            pending[slot] = p
        } else if line.log.count > cap + 1 {
            var message: [UInt8] = []
            var truncated = false
            appendCapped(line.log, to: &message, truncated: &truncated, cap: cap)
            message.append(0x0A)
            emit(message: message, time: line.time, stream: line.stream, truncated: true, end: end, into: &chunk)
        } else {
            emit(message: line.log, time: line.time, stream: line.stream, truncated: oversize, end: end, into: &chunk)
        }
    }

    /// A message that was cut keeps `cap` bytes (whole UTF-8 sequences) and ends there.
    private func capTruncated(_ message: inout [UInt8], cap: Int) {
        let keep = message.withUnsafeBufferPointer { JSONWriter.utf8SafePrefixLength($0, limit: cap) }
        message.removeSubrange(keep...)
        message.append(0x0A)
    }

    private func appendCapped(_ bytes: [UInt8], to message: inout [UInt8], truncated: inout Bool, cap: Int) {
        let room = cap - message.count
        if bytes.count <= room {
            message.append(contentsOf: bytes)
        } else {
            if room > 0 {
                bytes.withUnsafeBufferPointer {
                    let cut = JSONWriter.utf8SafePrefixLength($0, limit: room)
                    message.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<cut]))
                }
            }
            truncated = true
        }
    }

    /// Partial messages that will never be completed (their file was truncated, rotated or removed) go out as they are.
    func completePending(into chunk: inout RecordChunk, file f: OpenFile) {
        for slot in 0..<pending.count {
            guard let p = pending[slot] else { continue }
            pending[slot] = nil
            emit(
                message: p.message, time: p.time, stream: slot == 1 ? .stderr : .stdout, truncated: p.truncated,
                end: consumed, into: &chunk)
        }
    }

    private func emit(
        message: [UInt8], time: [UInt8], stream: DockerStream, truncated: Bool, end: Int64, into chunk: inout RecordChunk
    ) {
        guard let f = file else { return }
        var length = message.count
        if length > 0 && message[length - 1] == 0x0A { length -= 1 }
        if length > 0 && message[length - 1] == 0x0D { length -= 1 }
        let level = Self.level(message, length: length, stream: stream)
        let timeBytes = normalizedTime(time)
        let outcome: RecordTemplate.Outcome = message.withUnsafeBufferPointer { m in
            timeBytes.withUnsafeBufferPointer { t in
                let body = UnsafeBufferPointer(rebasing: m[0..<length])
                let streamName: StaticString = stream == .stderr ? "stderr" : "stdout"
                if line.attrs.isEmpty {
                    return template.encode(
                        time: t, stream: streamName, level: level, message: body, maxBytes: maxRecordBytes,
                        to: &chunk.data)
                }
                extraScratch.removeAll(keepingCapacity: true)
                extraScratch.append(contentsOf: extraPrefix)
                if extraScratch.count > 1 { extraScratch.append(UInt8(ascii: ",")) }
                extraScratch.append(contentsOf: "\"attrs\":".utf8)
                extraScratch.append(contentsOf: line.attrs)
                extraScratch.append(UInt8(ascii: "}"))
                return extraScratch.withUnsafeBufferPointer { e in
                    template.encode(
                        time: t, stream: streamName, level: level, message: body, extra: e, maxBytes: maxRecordBytes,
                        to: &chunk.data)
                }
            }
        }
        chunk.closeRecord(at: .file(f.identity.position(path: f.path, offset: safeOffset(end))))
        tally.records += 1
        if truncated || outcome.truncated { tally.truncated += 1 }
        tally.replaced += outcome.replacements
    }

    /// `<0>`…`<7>` at the start (the IoT Edge module convention) is the level; otherwise stdout is 6, stderr 3.
    static func level(_ message: [UInt8], length: Int, stream: DockerStream) -> Int {
        if length >= 3, message[0] == UInt8(ascii: "<"), message[2] == UInt8(ascii: ">"), message[1] >= 0x30,
            message[1] <= 0x37
        {
            return Int(message[1] - 0x30)
        }
        return stream == .stderr ? 3 : 6
    }

    private func normalizedTime(_ time: [UInt8]) -> [UInt8] {
        let canonical = time.withUnsafeBufferPointer { Timestamp.isCanonicalUTC($0) }
        if canonical { return time }
        timeScratch.removeAll(keepingCapacity: true)
        if let parsed = time.withUnsafeBufferPointer({ Timestamp.parse($0) }) {
            Timestamp.appendRFC3339(seconds: parsed.seconds, nanos: parsed.nanos, to: &timeScratch)
        } else {
            let now = FileSystem.now()
            Timestamp.appendRFC3339(seconds: now.seconds, nanos: now.nanos, to: &timeScratch)
        }
        return timeScratch
    }

    private func reportMalformed(_ reason: String, at offset: Int64) {
        malformedSeen += 1
        if malformedSeen <= 3 || malformedSeen % 1000 == 0 {
            logger.warning("\(name): skipped malformed line #\(malformedSeen) at byte \(offset) of \(file?.path ?? logPath): \(reason)")
        }
    }
}
