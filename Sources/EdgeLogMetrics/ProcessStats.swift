import EdgeLogCore

#if canImport(Glibc)
    import Glibc
#endif

/// The process's own resident memory and open file descriptors, from /proc (Linux).
public enum ProcessStats {
    /// Resident set size in bytes: the second field of `/proc/self/statm` (pages) times the page size.
    public static func residentBytes() -> Int64? {
        guard let fd = try? FileSystem.openDescriptor("/proc/self/statm", flags: O_RDONLY) else { return nil }
        defer { FileSystem.closeDescriptor(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> Int64? in
            guard let n = try? FileSystem.readSome(fd, into: UnsafeMutableRawBufferPointer(buffer)) else { return nil }
            guard n > 0 else { return nil }
            // "size resident shared text lib data dt": skip the first field.
            var i = 0
            while i < n && buffer[i] != 0x20 { i += 1 }
            i += 1
            var pages: Int64 = 0
            var digits = 0
            while i < n, buffer[i] >= 0x30, buffer[i] <= 0x39 {
                pages = pages * 10 + Int64(buffer[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
        }
    }

    /// Entries of `/proc/self/fd`, not counting the one the listing itself holds open.
    public static func openFileDescriptors() -> Int? {
        guard let names = try? FileSystem.list("/proc/self/fd") else { return nil }
        return max(0, names.count - 1)
    }
}
