import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// Entry times of Docker's json-file format: one JSON object per line with a `time` member.
struct JSONFileClock: EntryClock {
    func firstTime(_ head: UnsafeBufferPointer<UInt8>) -> Int64? {
        var start = 0
        // The first line that decodes (a file may begin with a damaged one).
        for _ in 0..<8 {
            guard start < head.count, let end = newline(in: head, from: start) else { return nil }
            if let t = time(UnsafeBufferPointer(rebasing: head[start..<end])) { return t }
            start = end + 1
        }
        return nil
    }

    func lastTime(_ tail: UnsafeBufferPointer<UInt8>) -> Int64? {
        var end = tail.count
        // The last line that decodes (the first line of `tail` may be cut at its front: it does not decode).
        for _ in 0..<8 {
            while end > 0 && tail[end - 1] != 0x0A { end -= 1 }  // drop an unterminated rest
            guard end > 0 else { return nil }
            let lineEnd = end - 1
            var start = lineEnd
            while start > 0 && tail[start - 1] != 0x0A { start -= 1 }
            if let t = time(UnsafeBufferPointer(rebasing: tail[start..<lineEnd])) { return t }
            end = start
        }
        return nil
    }

    func entries(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        for b in bytes where b == 0x0A { count += 1 }
        return count
    }

    private func newline(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let base = bytes.baseAddress, start < bytes.count,
            let p = memchr(base + start, 0x0A, bytes.count - start)
        else { return nil }
        return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }

    private func time(_ line: UnsafeBufferPointer<UInt8>) -> Int64? {
        var decoded = DockerLine()
        guard DockerLineDecoder.decode(line, into: &decoded) == nil else { return nil }
        return decoded.time.withUnsafeBufferPointer { Timestamp.parse($0) }.map { Self.nanos($0) }
    }

    static func nanos(_ t: (seconds: Int64, nanos: Int32)) -> Int64 {
        let (ns, overflow) = t.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (t.seconds < 0 ? Int64.min : Int64.max) : ns &+ Int64(t.nanos)
    }
}
