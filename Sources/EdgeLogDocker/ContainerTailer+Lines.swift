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
        if framed {
            processFramed(bytes, base: base, into: &chunk)
            return
        }
        var start = 0
        let n = bytes.count
        while start < n {
            if bytes[start] == 0 && carry.isEmpty && !carryOversize {
                // A region of NUL bytes where a line should start (a power cut while appending, or a copytruncate
                // under a writer without O_APPEND): skipped and counted; the entry after it is read.
                var end = start
                while end < n && bytes[end] == 0 { end += 1 }
                tally.nul += end - start
                if end < n && bytes[end] == 0x0A {
                    // Nothing but NULs on that line.
                    end += 1
                    consumed = base + Int64(end)
                }
                start = end
                continue
            }
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
    func finishCarry(into chunk: inout RecordChunk, end: Int64) {
        if framed {
            finishFramedCarry(into: &chunk, end: end)
            return
        }
        let oversize = carryOversize
        let whole = carry
        whole.withUnsafeBufferPointer { handleLine($0, end: end, oversize: oversize, into: &chunk) }
        carry.removeAll()
        carryOversize = false
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
            guard decodeAfterNULs(bytes, at: lineStart) else {
                tally.malformed += 1
                reportMalformed(error.description, at: lineStart)
                return
            }
        }
        handleDecoded(lineStart: lineStart, end: end, oversize: oversize, into: &chunk)
    }

    /// Rejoins and ships the entry decoded into `line` (from either driver's format), which began at `lineStart`
    /// and ends at `end` (`consumed` is there already).
    func handleDecoded(lineStart: Int64, end: Int64, oversize: Bool, into chunk: inout RecordChunk) {
        let slot = line.stream == .stdout ? 0 : line.stream == .stderr ? 1 : 2
        if let r = replay {
            if lineStart < r.until {
                // Read again after a restart: only the pieces of messages that were still open count.
                guard let from = r.starts[slot], lineStart >= from else { return }
            } else {
                replay = nil
            }
        }
        let isPartial = line.log.last != 0x0A
        let cap = Int(settings.maxMessageBytes)
        if var p = pending[slot] {
            if !startsNewRun(p) {
                let before = p.message.count
                appendCapped(line.log, to: &p.message, truncated: &p.truncated, cap: cap + 1)
                ledger.bytes += p.message.count - before
                if isPartial {
                    p.lastPieceAt = .now
                    p.lastPieceTime = entryTime()
                    pending[slot] = p
                    return
                }
                pending[slot] = nil
                pendingCount -= 1
                ledger.bytes -= p.message.count
                if p.truncated { capTruncated(&p.message, cap: cap) }
                emit(
                    message: p.message, time: p.time, stream: line.stream, pendingAttrs: p.attrs,
                    truncated: p.truncated, end: end, into: &chunk)
                return
            }
            // The container started again since that piece: it ended with its run, this begins a new message.
            flushPending(slot, cut: false, into: &chunk)
        }
        if isPartial {
            let now = ContinuousClock.now
            var p = Pending(
                message: [], time: line.time, attrs: line.attrs, startOffset: lineStart, origin: nil, truncated: false,
                openedAt: now, lastPieceAt: now, lastPieceTime: entryTime())
            appendCapped(line.log, to: &p.message, truncated: &p.truncated, cap: cap + 1)
            ledger.bytes += p.message.count
            pending[slot] = p
            pendingCount += 1
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

    /// A line that does not decode but holds NUL bytes: the part after the last NUL may be a whole entry (a NUL
    /// region in the middle of a line cuts what was being written before it). Decodes that into `line`.
    private func decodeAfterNULs(_ bytes: UnsafeBufferPointer<UInt8>, at lineStart: Int64) -> Bool {
        guard let last = bytes.lastIndex(of: 0) else { return false }
        var first = last
        while first > 0 && bytes[first - 1] == 0 { first -= 1 }
        tally.nul += bytes[0...last].reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        if bytes[0..<first].contains(where: { $0 != 0 && $0 != 0x20 }) {
            tally.malformed += 1
            reportMalformed("an entry cut by a region of NUL bytes", at: lineStart)
        }
        let rest = UnsafeBufferPointer(rebasing: bytes[(last + 1)...])
        guard rest.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else {
            line.reset()
            return false
        }
        return DockerLineDecoder.decode(rest, into: &line) == nil
    }

    /// The time of the entry in `line`, in nanoseconds (parsed only for partial pieces: messages over 16 KiB).
    private func entryTime() -> Int64? {
        line.time.withUnsafeBufferPointer { Timestamp.parse($0) }.map { JSONFileClock.nanos($0) }
    }

    /// True if the entry in `line` belongs to a later run of the container than the open message `p`. dockerd gives
    /// every piece of a message the time of its first, so an entry with another time does not continue it; and it
    /// began a new run if the container started again after that time (`State.StartedAt`, which dockerd records a
    /// little after the run's first output), or last finished at about that time or later (`FinishedAt`: the
    /// piece a run ends with is written as its output closes). config.v2.json is read again to know.
    private func startsNewRun(_ p: Pending) -> Bool {
        guard let last = p.lastPieceTime, let now = entryTime(), now != last else { return false }
        reloadMetadata()
        guard let meta = metadata else { return false }
        if let started = meta.startedAtNanos, started > last { return true }
        if let finished = meta.finishedAtNanos, finished >= last - 1_000_000_000, finished <= now { return true }
        return false
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

    /// Ships the open message of stream `slot` as it is, as its own record: not continued in time, its run ended,
    /// EdgeLog stops (`cut: false`), or rejoin memory is short (`cut: true`; later pieces make a new message).
    func flushPending(_ slot: Int, cut: Bool, into chunk: inout RecordChunk) {
        guard var p = pending[slot] else { return }
        pending[slot] = nil
        pendingCount -= 1
        ledger.bytes -= p.message.count
        if p.truncated { capTruncated(&p.message, cap: Int(settings.maxMessageBytes)) }
        emit(
            message: p.message, time: p.time, stream: slot == 1 ? .stderr : slot == 0 ? .stdout : .other,
            pendingAttrs: p.attrs, truncated: p.truncated, end: consumed, into: &chunk)
        if cut { tally.cut += 1 } else { tally.flushed += 1 }
    }

    /// Ships every open message (EdgeLog stops, `run --once` ends, the container is gone).
    func flushAllPending(into chunk: inout RecordChunk) {
        guard pendingCount > 0 else { return }
        for slot in pending.indices where pending[slot] != nil { flushPending(slot, cut: false, into: &chunk) }
    }

    /// The open message opened first, if any.
    var oldestPending: (slot: Int, openedAt: ContinuousClock.Instant)? {
        var oldest: (Int, ContinuousClock.Instant)?
        for slot in pending.indices {
            if let p = pending[slot], oldest == nil || p.openedAt < oldest!.1 { oldest = (slot, p.openedAt) }
        }
        return oldest
    }

    /// Open messages due to be shipped alone at `now`: nothing new was read for `partialFlushSeconds` since
    /// their last piece (or since the tailer caught up), or the container is not running any more.
    func duePending(now: ContinuousClock.Instant) -> (due: [Int], next: ContinuousClock.Instant?) {
        guard pendingCount > 0, let idle = idleSince else { return ([], nil) }
        let wait = Duration.milliseconds(Int64(settings.partialFlushSeconds * 1000))
        let stopped = metadata?.running == false
        var due: [Int] = []
        var next: ContinuousClock.Instant?
        for slot in pending.indices {
            guard let p = pending[slot] else { continue }
            let deadline = max(p.lastPieceAt, idle) + wait
            if stopped || deadline <= now {
                due.append(slot)
            } else if next == nil || deadline < next! {
                next = deadline
            }
        }
        return (due, next)
    }

    /// Encodes one record, unless the filters drop it (then only the position moves on). Its `attrs` are the
    /// current line's, or `pendingAttrs` for a message rejoined or shipped later (the line's are not copied for
    /// every record).
    private func emit(
        message: [UInt8], time: [UInt8], stream: DockerStream, pendingAttrs: [UInt8]? = nil, truncated: Bool,
        end: Int64, into chunk: inout RecordChunk
    ) {
        guard let position = position(end) else { return }
        var length = message.count
        if length > 0 && message[length - 1] == 0x0A { length -= 1 }
        if length > 0 && message[length - 1] == 0x0D { length -= 1 }
        let level = Self.level(message, length: length, stream: stream)
        var redacted = false
        if !filterPassThrough {
            let verdict = message.withUnsafeBufferPointer {
                filter.evaluate(route, level: level, message: UnsafeBufferPointer(rebasing: $0[0..<length]))
            }
            switch verdict {
            case .keep: break
            case .keepRedacted: redacted = true
            case .drop:
                // Read and handled: the checkpoint moves past it with the chunk.
                tally.records += 1
                chunk.finalPosition = position
                return
            }
        }
        let timeBytes = normalizedTime(time)
        let outcome: RecordTemplate.Outcome
        if redacted {
            let body = filter.redacted
            outcome = body.withUnsafeBufferPointer {
                encode(body: $0, time: timeBytes, stream: stream, level: level, pendingAttrs: pendingAttrs, into: &chunk)
            }
        } else {
            outcome = message.withUnsafeBufferPointer {
                encode(
                    body: UnsafeBufferPointer(rebasing: $0[0..<length]), time: timeBytes, stream: stream, level: level,
                    pendingAttrs: pendingAttrs, into: &chunk)
            }
        }
        chunk.closeRecord(at: position)
        // A position set by a dropped record before this one must not hold the checkpoint back.
        if chunk.finalPosition != nil { chunk.finalPosition = position }
        tally.records += 1
        if truncated || outcome.truncated { tally.truncated += 1 }
        tally.replaced += outcome.replacements
    }

    private func encode(
        body: UnsafeBufferPointer<UInt8>, time: [UInt8], stream: DockerStream, level: Int, pendingAttrs: [UInt8]?,
        into chunk: inout RecordChunk
    ) -> RecordTemplate.Outcome {
        time.withUnsafeBufferPointer { t in
            let streamName: StaticString = stream == .stderr ? "stderr" : "stdout"
            if pendingAttrs?.isEmpty ?? line.attrs.isEmpty {
                return template.encode(
                    time: t, stream: streamName, level: level, message: body, maxBytes: maxRecordBytes, to: &chunk.data)
            }
            extraScratch.removeAll(keepingCapacity: true)
            extraScratch.append(contentsOf: extraPrefix)
            if extraScratch.count > 1 { extraScratch.append(UInt8(ascii: ",")) }
            extraScratch.append(contentsOf: "\"attrs\":".utf8)
            extraScratch.append(contentsOf: pendingAttrs ?? line.attrs)
            extraScratch.append(UInt8(ascii: "}"))
            return extraScratch.withUnsafeBufferPointer { e in
                template.encode(
                    time: t, stream: streamName, level: level, message: body, extra: e, maxBytes: maxRecordBytes,
                    to: &chunk.data)
            }
        }
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

    func reportMalformed(_ reason: String, at offset: Int64) {
        malformedSeen += 1
        if malformedSeen <= 3 || malformedSeen % 1000 == 0 {
            logger.warning(
                "\(name): skipped malformed line #\(malformedSeen) at byte \(offset) of \(file?.file.path ?? logPath): \(reason)")
        }
    }
}
