import CSystemd
import EdgeLogCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Finds journal files sd-journal would skip without a word (corrupt, truncated, unreadable) and says so.
///
/// sd_journal_open_directory silently leaves out a file it cannot open, and sd_journal_open_files fails as a
/// whole if one file is bad. So every journal file is opened once on its own first: a file that fails is
/// reported (once, with the reason) and counted in `journalFilesSkipped`; the others are read as usual.
struct JournalFileProbe {
    private var seen: Set<String> = []

    /// The journal files sd_journal_open_directory reads: `*.journal` and `*.journal~` in `directory` and in its
    /// machine-id subfolders (32 hex digits), sorted.
    static func journalFiles(in directory: String) -> [String] {
        guard let names = try? FileSystem.list(directory) else { return [] }
        var found: [String] = []
        for name in names.sorted() {
            let path = directory + "/" + name
            if isJournalName(name) {
                found.append(path)
            } else if isMachineID(name), let inner = try? FileSystem.list(path) {
                found.append(contentsOf: inner.sorted().filter(isJournalName).map { path + "/" + $0 })
            }
        }
        return found
    }

    static func isJournalName(_ name: String) -> Bool { name.hasSuffix(".journal") || name.hasSuffix(".journal~") }

    static func isMachineID(_ name: String) -> Bool {
        name.utf8.count == 32 && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// 0 if sd-journal can open `path` on its own, else the (positive) errno.
    static func probe(_ path: String) -> Int32 {
        var j: OpaquePointer?
        let r = withCStrings([path]) { sd_journal_open_files(&j, $0, 0) }
        if r < 0 { return -r }
        sd_journal_close(j)
        return 0
    }

    /// Probes the files of `paths` not probed before; returns those that can be read.
    mutating func check(_ paths: [String], logger: Logger, counters: Counters) -> [String] {
        var good: [String] = []
        for path in paths {
            if seen.contains(path) {
                good.append(path)
                continue
            }
            var error = Self.probe(path)
            if error != 0 && error != ENOENT {
                // journald may be creating the file this instant (rotation): look again before calling it bad.
                usleep(100_000)
                error = Self.probe(path)
            }
            if error == 0 {
                seen.insert(path)
                good.append(path)
            } else if error != ENOENT {
                // Remembered as seen only when bad, so it is reported once; a good file may be re-probed if it is
                // replaced under the same name, which is harmless.
                seen.insert(path)
                counters.add(.journalFilesSkipped)
                logger.error("journal file \(path) cannot be read: \(Self.describe(error)); it is skipped, the other journal files are still read")
            }
        }
        return good
    }

    /// Forgets everything (after reopening, files are probed again).
    mutating func reset() { seen.removeAll() }

    /// errno text, with the fix for the usual cause.
    static func describe(_ error: Int32) -> String {
        let text = "\(String(cString: strerror(error))) (errno \(error))"
        switch error {
        case EACCES, EPERM:
            return text + "; run EdgeLog as root or in the systemd-journal group (Docker HostConfig.GroupAdd with the group's id)"
        case EBADMSG, ENODATA, EPROTONOSUPPORT, EIO:
            return text + "; the file is corrupt, truncated or of an unsupported format"
        default:
            return text
        }
    }
}

/// Runs `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
