#if canImport(Glibc)
    import Glibc
#endif

/// The process's own resident memory and open file descriptors, from /proc (Linux).
public enum ProcessStats {
    /// Resident set size in bytes: the second field of `/proc/self/statm` (pages) times the page size.
    public static func residentBytes() -> Int64? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> Int64? in
            let n = read(fd, buffer.baseAddress, buffer.count)
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
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)
    }
}
