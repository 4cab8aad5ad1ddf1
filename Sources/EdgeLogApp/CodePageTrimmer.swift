#if canImport(Glibc)
    import Glibc
#endif
import CMalloc
import EdgeLogCore
import Logging

/// Gives back the resident pages of EdgeLog's own code that it touched once (to start, to parse a configuration)
/// and will not touch again.
///
/// A program's code is mapped from its file: the kernel maps whole runs of pages (64 KiB around each fault, or a
/// whole large folio of the page cache, up to 2 MiB) around every instruction it runs, so starting up leaves most
/// of the binary resident although little of it runs afterwards. Those pages are clean: dropping them from the
/// process (`MADV_DONTNEED`) only removes the mapping, the page cache keeps them, and whatever runs again is mapped
/// back by a minor fault. Only mappings that are read-only, backed by the executable or a shared library and hold
/// no private (copied-on-write) page are dropped: relocated data and everything writable stay untouched.
public enum CodePageTrimmer {
    /// Drops the executable's and shared libraries' clean read-only mappings; returns the resident bytes they held.
    @discardableResult
    public static func trim() -> Int {
        guard let smaps = try? FileSystem.read("/proc/self/smaps", limit: 16 << 20) else { return 0 }
        let executable = ownExecutable()
        var dropped = 0
        for region in SmapsRegion.droppableCode(smaps, executable: executable) {
            guard let start = UnsafeMutableRawPointer(bitPattern: region.start) else { continue }
            if madvise(start, Int(region.end - region.start), MADV_DONTNEED) == 0 { dropped += region.residentBytes }
        }
        return dropped
    }

    /// The path the kernel names the running executable by (as in `smaps`).
    static func ownExecutable() -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer in
            let n = readlink("/proc/self/exe", buffer.baseAddress!, buffer.count)
            guard n > 0, n < buffer.count else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress, count: n), as: UTF8.self)
        }
    }

    /// When the trims happen: as the work starts (what parsed the command line and the configuration and built the
    /// pipeline has run), a few seconds later (the sources' and sinks' set-up), again as the first work settles,
    /// then every ten minutes (a reconfiguration or a burst touches code once and leaves it resident).
    static let schedule: [Duration] = [.zero, .seconds(3), .seconds(20), .seconds(60)]
    static let period: Duration = .seconds(600)

    /// Trims on `schedule`, then every `period`, until cancelled.
    public static func run(logger: Logger) async {
        var waits = schedule[...]
        var elapsed: Duration = .zero
        while !Task.isCancelled {
            let at = waits.popFirst() ?? elapsed + period
            if at > elapsed {
                do { try await Task.sleep(for: at - elapsed) } catch { return }
            }
            elapsed = at
            let bytes = trim()
            logger.debug("gave back \(bytes) resident bytes of code pages")
        }
    }
}

/// glibc's allocator, as EdgeLog runs it.
public enum MallocArenas {
    /// One arena for every thread unless `MALLOC_ARENA_MAX` says otherwise. glibc gives each new thread that
    /// allocates its own arena (up to eight per core), and each arena keeps the megabyte buffers of the batches
    /// it saw freed; EdgeLog's threads (the cooperative pool, the blocking pool, the event loops) hand batches to
    /// each other, so with one arena those buffers are reused instead of held once per thread. Measured: 3 MB less
    /// peak RSS at full speed, no measurable CPU (docs/performance.md).
    public static func limitUnlessSet() {
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = mallopt(M_ARENA_MAX, 1)
    }
}

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
