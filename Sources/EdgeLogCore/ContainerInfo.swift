/// What is known of a container beyond its log lines (from Docker's `config.v2.json`): the name, image and labels a
/// container record carries. Sources that learn of containers other ways (the journal) get it through a lookup.
public struct ContainerInfo: Sendable, Equatable {
    /// The container's name without its leading `/`: for IoT Edge, the module name.
    public var name: String
    public var image: String
    public var labels: [(String, String)]

    public init(name: String, image: String, labels: [(String, String)] = []) {
        self.name = name
        self.image = image
        self.labels = labels
    }

    public static func == (a: ContainerInfo, b: ContainerInfo) -> Bool {
        a.name == b.name && a.image == b.image && a.labels.elementsEqual(b.labels, by: ==)
    }
}
