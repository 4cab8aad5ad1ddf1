import EdgeLogCore
import EdgeLogDocker

/// How many bytes of json-file logs the Docker source has still to read, estimated before a run from the files'
/// sizes and the positions the pipeline starts from (`run --once`'s progress total), over each container's whole
/// rotation chain (compressed files by the size of their content). Filters are not applied, so it is an estimate:
/// the progress line never shows more than 100 %.
enum DockerBacklog {
    static func bytes(docker: DockerSettings, positions: [String: SourcePosition]) -> Int64 {
        guard docker.enabled, let ids = try? FileSystem.list(docker.containersDirectory) else { return 0 }
        var total: Int64 = 0
        for id in ids {
            let backlog = ChainBacklog.of(
                containersDirectory: docker.containersDirectory, id: id, position: positions["docker/" + id],
                readFromEnd: docker.readFrom == "end")
            total += backlog?.bytes ?? 0
        }
        return total
    }
}
