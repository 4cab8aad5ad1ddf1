import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Copy-then-truncate with the loss window shrunk to two back-to-back system calls.
///
/// logrotate copies and then truncates: whatever the writer appends while the copy runs is cut off. Here:
/// 1. `begin`: open the live file (O_NOFOLLOW, same inode as scanned, a regular file with no other hard link),
///    create the rotated file
///    (O_EXCL, owner and mode of the original), copy everything there is in the kernel (copy_file_range, else
///    sendfile, else read/write), fsync the copy. No one has been paused yet.
/// 2. (the caller asks the tailer to drain the file: `prepareTruncation`)
/// 3. `finish`: copy again what was appended meanwhile, repeatedly, until a copy call finds nothing new, and
///    truncate right after that call. What remains of the window is the time between the kernel seeing the end
///    of the file in that last copy call and the truncate taking the inode lock: a few microseconds. Appends are
///    O_APPEND writes, so one either lands before (and was copied) or after (at the new offset 0), unless it falls
///    exactly into that gap.
struct CopyTruncate: Sendable {
    let ops: any FileOperations
    let folder: Int32
    let name: String
    let destination: String
    /// The live file's descriptor, open O_RDWR.
    private(set) var live: Int32 = -1
    /// The rotated copy's descriptor.
    private(set) var copy: Int32 = -1
    /// Bytes copied so far (the offset in both files).
    private(set) var copied: Int64 = 0
    /// The kernel could not copy between these files: read and write instead.
    private var userSpace = false

    init(ops: any FileOperations, folder: Int32, name: String, destination: String) {
        self.ops = ops
        self.folder = folder
        self.name = name
        self.destination = destination
    }

    /// Opens both files and copies what there is. On failure nothing is left behind (the copy is removed).
    mutating func begin(expecting device: UInt64, _ inode: UInt64) throws(RotationRefusal) {
        do {
            live = try ops.open(in: folder, name, flags: O_RDWR, mode: 0)
        } catch {
            throw RotationRefusal(error.errno == ELOOP ? "\(name) is a symbolic link; not rotated" : "cannot open \(name): \(error)", error: error)
        }
        do {
            let st = try ops.status(live)
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw RotationRefusal("\(name) is not a regular file; not rotated") }
            // Truncating empties the file under every name it has: a second hard link is data this rotation does
            // not own (rename rotation is fine with it). EMLINK tells the executor to count it.
            guard st.st_nlink <= 1 else {
                throw RotationRefusal(
                    "\(name) has \(st.st_nlink) hard links; copytruncate would empty the other names too, so it is not rotated (remove the other links or use copyTruncate: false)",
                    error: SystemError("copytruncate", path: name, errno: EMLINK))
            }
            if inode != 0 && (UInt64(st.st_dev) != device || UInt64(st.st_ino) != inode) {
                throw RotationRefusal("\(name) was replaced since the scan; not rotated in this pass")
            }
            copy = try ops.open(in: folder, destination, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            try ops.setOwner(copy, uid: st.st_uid, gid: st.st_gid)
            try ops.setMode(copy, st.st_mode & 0o7777)
            try copyToEnd()
            try ops.sync(copy)
            try ops.sync(folder)
        } catch let refusal as RotationRefusal {
            abandon()
            throw refusal
        } catch let error as SystemError {
            abandon()
            throw RotationRefusal("copying \(name) to \(destination) failed: \(error)", error: error)
        } catch {
            abandon()
            throw RotationRefusal("copying \(name) to \(destination) failed: \(error)")
        }
    }

    /// Catches up with the writer and truncates at once. Returns the offset truncated at: every byte before it
    /// is in the copy. On failure the live file is untouched and the copy removed.
    mutating func finish() throws(RotationRefusal) -> Int64 {
        do {
            _ = try copyToEnd()  // what came in while the tailer drained
            try catchUpAndTruncate()
        } catch {
            abandon()
            throw RotationRefusal("copying \(name) to \(destination) failed: \(error)", error: error)
        }
        let end = copied
        // The copy is complete; make it durable (the live file's content now exists only there).
        do {
            try ops.sync(copy)
        } catch {
            close()
            throw RotationRefusal("\(destination) could not be synced after truncating \(name): \(error)", error: error)
        }
        close()
        return end
    }

    /// The window itself. Two things would widen it: being preempted between the last copy call and the
    /// truncate (likely right after a long copy on a busy device: the time slice is used up), so the thread runs
    /// this part as SCHED_FIFO if it may (else it yields first to start on a fresh time slice); and truncating
    /// while a write that crosses a page boundary is half visible (the copy would end with half a line and the
    /// rest be lost), so while the copy does not end with a newline it waits a moment for that write to end.
    private mutating func catchUpAndTruncate() throws(SystemError) {
        let urgent = UrgentScheduling.begin()
        defer { urgent.end() }
        var waits = 0
        for _ in 0..<10_000 {
            _ = try copyToEnd()
            if waits < 8, copied > 0, try lastCopiedByte() != 0x0A {
                waits += 1
                sched_yield()
                continue
            }
            // The final check: a copy call that finds nothing new, and the truncate right after it.
            if try copyToEnd() == 0 { break }
        }
        try ops.truncate(live, to: 0)
    }

    private func lastCopiedByte() throws(SystemError) -> UInt8 {
        var byte: UInt8 = 0
        let n = try withUnsafeMutableBytes(of: &byte) { (b) -> Result<Int, SystemError> in
            Result { () throws(SystemError) -> Int in try ops.read(live, into: b, at: copied - 1) }
        }.get()
        return n == 1 ? byte : 0x0A
    }

    /// Copies until a copy call returns nothing new; returns the bytes copied.
    @discardableResult
    private mutating func copyToEnd() throws(SystemError) -> Int64 {
        let start = copied
        if !userSpace {
            while true {
                guard let n = try ops.copy(from: live, at: copied, to: copy, at: copied, count: 1 << 30) else {
                    userSpace = true
                    break
                }
                if n == 0 { return copied - start }
                copied += Int64(n)
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try ops.read(live, into: buffer, at: copied)
            if n == 0 { return copied - start }
            try ops.writeAll(copy, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: copied)
            copied += Int64(n)
        }
    }

    /// Closes both files and removes the copy (after a failure before the truncate).
    mutating func abandon() {
        if copy >= 0 { try? ops.remove(in: folder, destination) }
        close()
    }

    private mutating func close() {
        if live >= 0 { ops.close(live) }
        if copy >= 0 { ops.close(copy) }
        live = -1
        copy = -1
    }
}
