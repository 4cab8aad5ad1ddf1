import EdgeLogCore
import EdgeLogGzip

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// gzip of one rotated file with zlib, streamed in fixed-size chunks (memory does not grow with the file).
/// Written to a hidden temporary in the same folder, owner, mode and times set like the source's (as gzip
/// does), fsynced, renamed into place (never replacing anything), the folder fsynced, and only then the source
/// removed. Any failure removes the temporary and keeps the source: a complete .gz or none, never a corrupt one.
struct GzipFileCompressor: Sendable {
    let ops: any FileOperations
    /// Bytes read from the source per step.
    var readChunk = 256 * 1024
    /// Bytes of compressed output per write.
    var writeChunk = 64 * 1024
    /// Told of every chunk read.
    var progress: RotationProgress?

    /// The sizes before and after.
    struct Outcome: Sendable, Equatable {
        var input: Int64
        var output: Int64
    }

    func compress(in folder: Int32, source: String, destination: String, level: Int) throws(RotationRefusal) -> Outcome {
        let input: Int32
        do {
            input = try ops.open(in: folder, source, flags: O_RDONLY, mode: 0)
        } catch {
            throw RotationRefusal("cannot open \(source) to compress it: \(error)", error: error)
        }
        defer { ops.close(input) }
        let temporary = RotatedNaming.temporary(for: destination)
        var output: Int32 = -1
        do {
            let st = try ops.status(input)
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw RotationRefusal("\(source) is not a regular file; not compressed")
            }
            try removeIfPresent(temporary, in: folder)
            output = try ops.open(in: folder, temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            let written = try stream(from: input, to: output, level: level)
            try ops.setOwner(output, uid: st.st_uid, gid: st.st_gid)
            try ops.setMode(output, st.st_mode & 0o7777)
            try ops.setTimes(output, like: st)
            try ops.sync(output)
            ops.close(output)
            output = -1
            try ops.rename(in: folder, temporary, to: destination)
            try ops.sync(folder)
            try ops.remove(in: folder, source)
            return Outcome(input: Int64(st.st_size), output: written)
        } catch {
            if output >= 0 { ops.close(output) }
            try? ops.remove(in: folder, temporary)
            throw Self.refusal(error, source: source, destination: destination)
        }
    }

    private static func refusal(_ error: any Error, source: String, destination: String) -> RotationRefusal {
        if let refusal = error as? RotationRefusal { return refusal }
        let system = error as? SystemError
        let what = system?.isNoSpace == true ? "the disk is full" : "\(error)"
        return RotationRefusal(
            "compressing \(source) into \(destination) failed (\(what)); \(source) is kept, retried next pass", error: system)
    }

    private func removeIfPresent(_ name: String, in folder: Int32) throws(SystemError) {
        do {
            try ops.remove(in: folder, name)
        } catch {
            if !error.isNotFound { throw error }
        }
    }

    /// Compresses `input` into `output`; returns the bytes written.
    private func stream(from input: Int32, to output: Int32, level: Int) throws -> Int64 {
        let ops = self.ops
        let counter = ByteCounter()
        let writer = try GzipWriter(level: level, chunkSize: writeChunk) { chunk in
            try Self.write(chunk, to: output, ops: ops)
            counter.bytes += Int64(chunk.count)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readChunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try ops.read(input, into: buffer)
            if n == 0 { break }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            progress?.advance(Int64(n))
        }
        try writer.finish()
        return counter.bytes
    }
}

extension GzipFileCompressor {
    fileprivate static func write(_ chunk: [UInt8], to fd: Int32, ops: any FileOperations) throws(SystemError) {
        var done = 0
        while done < chunk.count {
            done += try chunk.withUnsafeBytes { b in
                Result { () throws(SystemError) -> Int in try ops.write(fd, UnsafeRawBufferPointer(rebasing: b[done...])) }
            }.get()
        }
    }
}

/// Mutable count for the writer's sink closure.
private final class ByteCounter {
    var bytes: Int64 = 0
}
