import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// What `<id>/config.v2.json` says about a container.
struct ContainerMetadata: Equatable {
    /// `Name` without its leading `/`: for IoT Edge, the module name.
    var name: String
    var image: String
    var labels: [(String, String)]
    var startedAt: String
    /// `State`: whether the container runs, when its current (or last) run started and when its last run ended,
    /// in nanoseconds since the epoch.
    var running: Bool?
    var startedAtNanos: Int64?
    var finishedAtNanos: Int64?

    static func == (a: ContainerMetadata, b: ContainerMetadata) -> Bool {
        a.name == b.name && a.image == b.image && a.startedAt == b.startedAt && a.labels.elementsEqual(b.labels, by: ==)
            && a.running == b.running && a.finishedAtNanos == b.finishedAtNanos
    }

    /// Reads the file; nil with the reason if it is missing or not as expected.
    static func load(_ path: String) -> Result<ContainerMetadata, any Error> {
        Result {
            guard let bytes = try FileSystem.read(path, limit: 8 << 20) else {
                throw SystemError("open", path: path, errno: ENOENT)
            }
            let doc = try JSONParser.parse(bytes)
            var name = doc["Name"]?.stringValue ?? ""
            if name.hasPrefix("/") { name.removeFirst() }
            let config = doc["Config"]
            let labels = (config?["Labels"]?.objectValue ?? []).compactMap { key, value in
                value.stringValue.map { (key, $0) }
            }
            let state = doc["State"]
            let startedAt = state?["StartedAt"]?.stringValue ?? ""
            var meta = ContainerMetadata(
                name: name, image: config?["Image"]?.stringValue ?? "", labels: labels, startedAt: startedAt)
            meta.running = state?["Running"]?.boolValue
            meta.startedAtNanos = Timestamp.parse(startedAt).map { JSONFileClock.nanos($0) }
            meta.finishedAtNanos = (state?["FinishedAt"]?.stringValue).flatMap { Timestamp.parse($0) }.map {
                JSONFileClock.nanos($0)
            }
            return meta
        }
    }
}
