import EdgeLogCore

/// How the journal source treats entries of containers that log through Docker's `journald` driver (entries with
/// `CONTAINER_ID_FULL`): as container records (`Source` `docker`), selected by the `docker` section's
/// `include`/`exclude` by module name rather than by the `journal` section's host filters.
public struct JournalContainers: Sendable {
    /// Container names to collect / to skip (`*` and `?` globs), as for json-file.
    public var include: [String] = []
    public var exclude: [String] = []
    /// Container labels copied to `Extra.labels` (globs, `!` excludes), as for json-file.
    public var labels: [String] = []
    /// EdgeLog's own container (by full id or by name): never collected.
    public var selfId: String?
    public var selfNames: [String] = []
    /// Where to start the first time when the journal is read for container entries only (`docker.readFrom`).
    public var readFrom = "beginning"
    /// Longest rejoined message (the head is kept), and memory for messages being rejoined, over all containers.
    public var maxMessageBytes = 960 * 1024
    public var maxPendingBytes = 8 << 20
    /// A split message whose next piece does not come within this many seconds is shipped as it is.
    public var partialFlushSeconds: Double = 5
    /// When set, the journal is opened only once this returns true (looked at every `waitSeconds`): `docker.journal`
    /// `auto` with host entries off waits for a container that uses the driver.
    public var waitUntil: (@Sendable () -> Bool)?
    public var waitSeconds: Double = 10
    /// A container's name, image and labels by full id (Docker's `config.v2.json`), when its folder can be read.
    public var lookup: @Sendable (String) -> ContainerInfo?

    public init(lookup: @escaping @Sendable (String) -> ContainerInfo? = { _ in nil }) {
        self.lookup = lookup
    }

    /// From the `docker` section.
    public init(docker: DockerSettings, selfId: String?, selfNames: [String], lookup: @escaping @Sendable (String) -> ContainerInfo?) {
        self.lookup = lookup
        include = docker.include
        exclude = docker.exclude
        labels = docker.labels
        if docker.excludeSelf {
            self.selfId = selfId
            self.selfNames = selfNames
        }
        readFrom = docker.readFrom
        maxMessageBytes = Int(docker.maxMessageBytes)
        maxPendingBytes = Int(docker.maxPendingBytes)
        partialFlushSeconds = docker.partialFlushSeconds
    }
}
