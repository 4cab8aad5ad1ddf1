import EdgeLogCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Expands a glob(3) pattern with the C library's `glob()`: `*`, `?`, `[...]`, backslash escapes; no braces,
/// no tilde; names starting with a dot are matched only by a pattern that starts with a dot. Matches come
/// sorted. glob() is not thread-safe, so calls are serialised.
public enum PathGlob {
    private static let lock = Mutex<Void>(())
    /// Folders glob() could not read during the current call (written only under `lock`).
    nonisolated(unsafe) private static var unreadable: [SystemError] = []

    /// The paths matching `pattern`, and the folders that could not be read on the way.
    public static func expand(_ pattern: String) -> (matches: [String], errors: [SystemError]) {
        lock.withLock { _ in
            unreadable = []
            var result = glob_t()
            defer { globfree(&result) }
            let rc = glob(pattern, 0, { path, code in
                PathGlob.unreadable.append(SystemError("read folder", path: path.map { String(cString: $0) } ?? "", errno: code))
                return 0  // carry on with the other folders
            }, &result)
            var matches: [String] = []
            if rc == 0 {
                for i in 0..<Int(result.gl_pathc) {
                    if let p = result.gl_pathv[i] { matches.append(String(cString: p)) }
                }
            } else if rc != GLOB_NOMATCH {
                unreadable.append(SystemError("glob", path: pattern, errno: rc == GLOB_NOSPACE ? ENOMEM : EIO))
            }
            return (matches, unreadable)
        }
    }
}
