import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Finds the files each policy manages: expands the patterns, applies the root rules, lstat's every match (a
/// symlink or anything but a regular file is refused) and lists the rotated files beside each one.
/// Blocking: run it on `BlockingPool`.
public struct RotationScanner: Sendable {
    public let policies: [RotationPolicy]
    public let guardian: RootGuard
    public let ops: any FileOperations

    public init(policies: [RotationPolicy], guardian: RootGuard, ops: any FileOperations) {
        self.policies = policies
        self.guardian = guardian
        self.ops = ops
    }

    public func scan() -> RotationScan {
        var scan = RotationScan()
        var seen = Set<String>()
        for (index, policy) in policies.enumerated() {
            for pattern in policy.patterns {
                scanPattern(pattern, policy: index, seen: &seen, into: &scan)
            }
        }
        return scan
    }

    private func scanPattern(_ given: String, policy index: Int, seen: inout Set<String>, into scan: inout RotationScan) {
        let policy = policies[index]
        // `/a//b/*.log` and `/a/b/*.log` are the same pattern; glob() would keep the double slash in its matches.
        let pattern = given.hasPrefix("/") ? "/" + given.split(separator: "/").joined(separator: "/") : given
        let root: String
        switch guardian.root(of: pattern) {
        case .success(let r): root = r
        case .failure(let refusal):
            scan.problems.append("\(policy.name): \(refusal)")
            return
        }
        let (found, errors) = PathGlob.expand(pattern)
        for error in errors { scan.problems.append("\(policy.name): pattern \"\(pattern)\": \(error)") }
        let candidates = found.filter { !isRotatedSibling($0, of: found) }
        if candidates.isEmpty {
            if policy.missingOk {
                scan.notes.append("\(policy.name): pattern \"\(pattern)\" matches no file")
            } else {
                scan.problems.append("\(policy.name): pattern \"\(pattern)\" matches no file (missingOk is false)")
            }
            return
        }
        // Group by folder so each folder is opened and listed once.
        var byFolder: [String: [(String, String, [String])]] = [:]
        var order: [String] = []
        for match in candidates where !seen.contains(match) {
            seen.insert(match)
            switch guardian.components(of: match, under: root) {
            case .failure(let refusal):
                scan.problems.append("\(policy.name): \(refusal)")
            case .success(let (folders, name)):
                let key = folders.joined(separator: "/")
                if byFolder[key] == nil { order.append(key) }
                byFolder[key, default: []].append((match, name, folders))
            }
        }
        for key in order {
            let entries = byFolder[key]!
            scanFolder(root: root, folders: entries[0].2, files: entries.map { ($0.0, $0.1) }, policy: index, into: &scan)
        }
    }

    private func scanFolder(root: String, folders: [String], files: [(path: String, name: String)], policy: Int, into scan: inout RotationScan) {
        let label = policies[policy].name
        let fd: Int32
        do {
            fd = try RootGuard.openFolder(root: root, folders: folders, using: ops)
        } catch {
            scan.problems.append("\(label): \(error)")
            return
        }
        defer { ops.close(fd) }
        let names: [String]
        do {
            names = try ops.list(fd)
        } catch {
            scan.problems.append("\(label): cannot list \(files[0].path)'s folder: \(error)")
            return
        }
        for file in files {
            let st: stat?
            do {
                st = try ops.status(in: fd, file.name)
            } catch {
                scan.problems.append("\(label): \(error)")
                continue
            }
            guard let st else { continue }  // vanished since glob()
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK {
                scan.problems.append("\(label): \(file.path) is a symbolic link; EdgeLog never follows one, not rotated")
                continue
            }
            guard type == S_IFREG else {
                scan.problems.append("\(label): \(file.path) is not a regular file; not rotated")
                continue
            }
            var managed = ManagedFile(
                path: file.path, root: root, components: folders, name: file.name, policy: policy,
                size: Int64(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            for entry in names where entry != file.name {
                if RotatedNaming.isTemporary(entry, base: file.name) {
                    if RotatedName.parse(String(entry.dropFirst().dropLast(RotatedNaming.temporarySuffix.count)), base: file.name) != nil {
                        managed.temporaries.append(entry)
                    }
                    continue
                }
                guard let rotatedName = RotatedName.parse(entry, base: file.name) else { continue }
                guard let rst = try? ops.status(in: fd, entry) else { continue }
                guard (rst.st_mode & S_IFMT) == S_IFREG else {
                    managed.foreign.append(entry)
                    continue
                }
                managed.rotated.append(
                    RotatedFile(name: rotatedName, fileName: entry, size: Int64(rst.st_size), modified: Int64(rst.st_mtim.tv_sec)))
            }
            scan.files.append(managed)
        }
    }

    /// True if `path` is a rotated file (or compressed file) of another match in the same folder, as a pattern
    /// like `/var/log/app/*.log*` also matches `app.log.1` and `app.log.2.gz`: those are never rotated themselves.
    private func isRotatedSibling(_ path: String, of all: [String]) -> Bool {
        if path.hasSuffix(RotatedNaming.compressedSuffix) { return true }
        let folder = FileSystem.directory(of: path)
        let name = FileSystem.basename(of: path)
        return all.contains { other in
            other != path && FileSystem.directory(of: other) == folder
                && RotatedName.parse(name, base: FileSystem.basename(of: other)) != nil
        }
    }
}
