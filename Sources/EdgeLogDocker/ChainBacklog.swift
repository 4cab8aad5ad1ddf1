import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// How far a container's committed position is from the end of its log (json-file or `local`), over the whole rotation chain:
/// what `edgelog status`, `/metrics` and the twin's health show. Read from the folder alone (nothing is kept
/// open), so it works without a running source.
public struct ChainBacklog: Sendable, Equatable {
    /// Bytes still to read: the rest of the position's file and every newer file (compressed ones by the size of
    /// their content).
    public var bytes: Int64
    /// Rotated files (not the live one) with something still to read.
    public var unreadRotatedFiles: Int
    /// The position's file is not in the chain any more (dockerd deleted it): everything there is counts.
    public var positionFileGone: Bool

    /// The backlog of container `id` under `containersDirectory` from `position` (nil: nothing committed yet, so
    /// everything, or nothing with `readFrom: end`). Nil if the container has no log file.
    public static func of(
        containersDirectory: String, id: String, position: SourcePosition?, readFromEnd: Bool = false
    ) -> ChainBacklog? {
        let folder = containersDirectory + "/" + id
        // The container's driver says which chain: json-file's, the `local` driver's, or none read from files.
        let driver = LogDriver.detect(directory: folder, id: id)?.driver ?? .jsonFile
        guard driver.readsFiles else { return nil }
        let (directory, base) = driver.chain(directory: folder, id: id)
        guard let names = try? FileSystem.list(directory) else { return nil }
        let members = ChainMember.ordered(names, base: base)
        guard !members.isEmpty else { return nil }
        var sizes: [Int64?] = []
        var identities: [(device: UInt64, inode: UInt64)?] = []
        for member in members {
            let path = directory + "/" + member.name
            guard let st = try? FileSystem.status(path), st.st_mode & S_IFMT == S_IFREG else {
                sizes.append(nil)
                identities.append(nil)
                continue
            }
            identities.append((UInt64(st.st_dev), UInt64(st.st_ino)))
            if member.compressed {
                sizes.append((try? ChainFile.open(path, compressed: true))?.plainSize())
            } else {
                sizes.append(Int64(st.st_size))
            }
        }
        func total(from start: Int) -> (Int64, Int) {
            var bytes: Int64 = 0
            var rotated = 0
            for i in start..<members.count {
                let size = sizes[i] ?? 0
                bytes += size
                if !members[i].isLive && size > 0 { rotated += 1 }
            }
            return (bytes, rotated)
        }
        guard case .file(let p)? = position else {
            if readFromEnd { return ChainBacklog(bytes: 0, unreadRotatedFiles: 0, positionFileGone: false) }
            let (bytes, rotated) = total(from: 0)
            return ChainBacklog(bytes: bytes, unreadRotatedFiles: rotated, positionFileGone: false)
        }
        guard let found = find(p, members: members, identities: identities, directory: directory) else {
            let (bytes, rotated) = total(from: 0)
            return ChainBacklog(bytes: bytes, unreadRotatedFiles: rotated, positionFileGone: true)
        }
        let (newer, newerRotated) = found + 1 < members.count ? total(from: found + 1) : (0, 0)
        let rest = max(0, (sizes[found] ?? 0) - p.offset)
        let restRotated = !members[found].isLive && rest > 0 ? 1 : 0
        return ChainBacklog(bytes: rest + newer, unreadRotatedFiles: restRotated + newerRotated, positionFileGone: false)
    }

    /// The member holding `p`: same device and inode with the same first bytes, else the same first bytes alone.
    private static func find(
        _ p: FilePosition, members: [ChainMember], identities: [(device: UInt64, inode: UInt64)?], directory: String
    ) -> Int? {
        let wanted = FileIdentity(p)
        func contentMatches(_ i: Int) -> Bool {
            guard let file = try? ChainFile.open(directory + "/" + members[i].name, compressed: members[i].compressed)
            else { return false }
            return file.head(wanted.fingerprintLength).withUnsafeBufferPointer { wanted.contentMatches($0) }
        }
        for i in members.indices where !members[i].compressed {
            if let id = identities[i], id.device == p.device, id.inode == p.inode, contentMatches(i) { return i }
        }
        guard wanted.fingerprintLength > 0 else { return nil }
        return members.indices.first { contentMatches($0) }
    }
}
