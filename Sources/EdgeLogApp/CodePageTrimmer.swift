#if canImport(Glibc)
    import Glibc
#endif
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
