import EdgeLogCore

/// What other sources may ask of Docker's containers folder without reading container logs: a container's
/// name, image and labels, which containers use a driver, and EdgeLog's own container id.
public enum ContainerDirectory {
    /// The container `id`'s `config.v2.json` under `containersDirectory`, or nil if it cannot be read.
    public static func info(containersDirectory: String, id: String) -> ContainerInfo? {
        guard isContainerId(id), case .success(let meta) = ContainerMetadata.load(containersDirectory + "/" + id + "/config.v2.json")
        else { return nil }
        return ContainerInfo(name: meta.name, image: meta.image, labels: meta.labels)
    }

    /// True if any container under `containersDirectory` logs through `driver` (per its `hostconfig.json`).
    public static func anyUses(_ driver: LogDriver, containersDirectory: String) -> Bool {
        guard let ids = try? FileSystem.list(containersDirectory) else { return false }
        return ids.contains { id in
            isContainerId(id) && LogDriver.detect(directory: containersDirectory + "/" + id, id: id)?.driver == driver
        }
    }

    /// EdgeLog's own container id (64 hex digits), when it runs in a container.
    public static func selfId() -> String? { SelfContainer.id() }

    /// 64 lower-case hex digits: never a path with `/` or `..` in it.
    static func isContainerId(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
