import Dispatch
import EdgeLogCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// inotify used as a doorbell: any event in a watched folder rings `wakeups` (coalesced), and the source
/// then looks at what changed itself. Without inotify the source polls instead. A file created or renamed in a
/// container's folder also has that container's rotation chain look at it at once, from the inotify thread, so a
/// file dockerd rotates away quickly is held open before it can be deleted.
final class Inotify: @unchecked Sendable {
    // fd and watches are touched only by the source's task; the dispatch source only reads and drains the fd.
    let fd: Int32
    private var watches: [String: Int32] = [:]
    private let source: any DispatchSourceRead
    private let chains = ChainTable()

    /// Rotation chains by watch descriptor, read by the inotify thread.
    final class ChainTable: Sendable {
        let byWatch = Mutex<[Int32: LogChain]>([:])
    }

    /// `onEvent(rootChanged)`: rootChanged when the first watched folder changed, or any `config.v2.json`,
    /// `hostconfig.json` or `local-logs` folder in a container's.
    init?(onEvent: @escaping @Sendable (Bool) -> Void) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.fd = fd
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "edgelog.inotify"))
        let chains = self.chains
        source.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var rootChanged = false
            var rotated: Set<Int32> = []
            while true {
                let n = buffer.withUnsafeMutableBytes { (try? FileSystem.readSome(fd, into: $0)) ?? -1 }
                guard n > 0 else { break }
                var offset = 0
                buffer.withUnsafeBytes { raw in
                    while offset + MemoryLayout<inotify_event>.size <= n {
                        let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                        let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                        let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                        let nameStart = offset + MemoryLayout<inotify_event>.size
                        if wd == 1 {
                            rootChanged = true
                        } else if length > 0 {
                            let name = raw[nameStart..<min(n, nameStart + length)].prefix { $0 != 0 }
                            if name.elementsEqual("config.v2.json".utf8) || name.elementsEqual("hostconfig.json".utf8)
                                || name.elementsEqual("local-logs".utf8)
                            {
                                rootChanged = true
                            } else if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                                rotated.insert(wd)
                            }
                        }
                        offset = nameStart + length
                    }
                }
            }
            if !rotated.isEmpty {
                let watched = chains.byWatch.withLock { c in rotated.compactMap { c[$0] } }
                for chain in watched { chain.observe() }
            }
            onEvent(rootChanged)
        }
        source.setCancelHandler { FileSystem.closeDescriptor(fd) }
        source.resume()
    }

    deinit { source.cancel() }

    /// Watches a folder for files created, written, moved or deleted in it; `chain` looks at files created or
    /// renamed there.
    @discardableResult
    func watch(_ path: String, chain: LogChain? = nil) -> Bool {
        if let wd = watches[path] {
            if let chain { chains.byWatch.withLock { $0[wd] = chain } }
            return true
        }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE)
        let wd = inotify_add_watch(fd, path, mask)
        guard wd >= 0 else { return false }
        watches[path] = wd
        if let chain { chains.byWatch.withLock { $0[wd] = chain } }
        return true
    }

    func unwatch(_ path: String) {
        if let wd = watches.removeValue(forKey: path) {
            inotify_rm_watch(fd, wd)
            _ = chains.byWatch.withLock { $0.removeValue(forKey: wd) }
        }
    }
}
