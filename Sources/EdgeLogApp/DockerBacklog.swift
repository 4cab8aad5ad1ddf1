import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// How many bytes of json-file logs the Docker source has still to read, estimated before a run from the files'
/// sizes and the positions the pipeline starts from (`run --once`'s progress total). Rotated files and filters are not
/// counted, so it is an estimate: the progress line never shows more than 100 %.
enum DockerBacklog {
    static func bytes(docker: DockerSettings, positions: [String: SourcePosition]) -> Int64 {
        guard docker.enabled, let ids = try? FileSystem.list(docker.containersDirectory) else { return 0 }
        var total: Int64 = 0
        for id in ids {
            let path = "\(docker.containersDirectory)/\(id)/\(id)-json.log"
            guard let st = try? FileSystem.status(path), st.st_mode & S_IFMT == S_IFREG else { continue }
            let size = Int64(st.st_size)
            switch positions["docker/" + id] {
            case .file(let f)? where f.inode == UInt64(st.st_ino) && f.offset <= size:
                total += size - f.offset
            case nil where docker.readFrom == "end":
                continue
            default:
                total += size
            }
        }
        return total
    }
}
