import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The safety rules for where rotation may act.
///
/// Every pattern has a root: with `rotation.roots` empty, its longest folder without a wildcard
/// (`/var/lib/docker/containers/*/*-json.log` → `/var/lib/docker/containers`); with `rotation.roots` given, the
/// longest of them that holds that folder (a pattern outside all of them is refused). The root itself may be a
/// symbolic link (an admin's choice, e.g. a moved Docker data root); below it nothing is: every folder is opened
/// with O_NOFOLLOW from the one above, and a match that glob() found through a symlinked folder is refused as
/// reaching outside its root. All changes are made with `*at` calls in the rotated file's own folder.
public struct RootGuard: Sendable {
    /// Explicit roots (normalised); empty means each pattern's own fixed prefix.
    public let roots: [String]

    public init(roots: [String]) {
        self.roots = roots.map { "/" + $0.split(separator: "/").joined(separator: "/") }
    }

    /// The root of `pattern`, or why the pattern is refused.
    public func root(of pattern: String) -> Result<String, RotationRefusal> {
        if let (problem, _) = RotationSettings.problemWithPattern(pattern) {
            return .failure(RotationRefusal("pattern \"\(pattern)\" \(problem); it is skipped"))
        }
        let prefix = RotationSettings.fixedPrefix(of: pattern)
        guard !roots.isEmpty else { return .success(prefix) }
        let holding = roots.filter { RotationSettings.isInside(prefix, $0) }
        guard let root = holding.max(by: { $0.count < $1.count }) else {
            return .failure(
                RotationRefusal(
                    "pattern \"\(pattern)\" reaches outside the rotation roots (\(roots.joined(separator: ", "))); it is skipped"))
        }
        return .success(root)
    }

    /// The folders from `root` to the folder of `match`, or why the match is refused (not below `root`, or
    /// through `.`/`..`).
    public func components(of match: String, under root: String) -> Result<(folders: [String], name: String), RotationRefusal> {
        guard root == "/" ? match.hasPrefix("/") : match.hasPrefix(root + "/") else {
            return .failure(RotationRefusal("\(match) is outside its root \(root); not rotated"))
        }
        let relative = match.dropFirst(root == "/" ? 1 : root.count + 1)
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let name = parts.last, !parts.contains(where: { $0 == "." || $0 == ".." }) else {
            return .failure(RotationRefusal("\(match) reaches outside its root \(root) through \"..\"; not rotated"))
        }
        return .success((Array(parts.dropLast()), name))
    }

    /// Opens the folder `root/folders...`, each step refusing a symbolic link. The caller closes the result.
    public static func openFolder(root: String, folders: [String], using ops: any FileOperations) throws(RotationRefusal) -> Int32 {
        var fd: Int32
        do {
            fd = try ops.openRoot(root)
        } catch {
            throw RotationRefusal("cannot open the rotation root \(root): \(error)", error: error)
        }
        var path = root
        for folder in folders {
            path += "/" + folder
            do {
                let next = try ops.openDirectory(in: fd, folder)
                ops.close(fd)
                fd = next
            } catch {
                ops.close(fd)
                if error.errno == ELOOP || error.errno == ENOTDIR {
                    let st = try? ops.status(in: AT_FDCWD, path)
                    if let st, (st.st_mode & S_IFMT) == S_IFLNK {
                        throw RotationRefusal(
                            "\(path) is a symbolic link: a match below it would reach outside the root \(root); not followed",
                            error: error)
                    }
                    throw RotationRefusal("\(path) is not a folder; skipped", error: error)
                }
                throw RotationRefusal("cannot open \(path): \(error)", error: error)
            }
        }
        return fd
    }
}

/// Why rotation refused or failed to act on something, in words for the log.
public struct RotationRefusal: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The system error behind it, if any.
    public let error: SystemError?

    public init(_ description: String, error: SystemError? = nil) {
        self.description = description
        self.error = error
    }

    /// The file was not there (it vanished between the scan and the action).
    public var isNotFound: Bool { error?.isNotFound ?? false }
}
