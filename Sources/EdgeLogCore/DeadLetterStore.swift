/// Batches the sink refused for good, kept under `<stateDirectory>/deadletter` with the reason beside each,
/// so the pipeline keeps moving and nothing is lost silently. Bounded: beyond `maxBytes` the oldest go.
public struct DeadLetterStore: Sendable {
    public let directory: String
    public let maxBytes: Int64

    public init(directory: String, maxBytes: Int64 = 64 << 20) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    public func store(_ entry: SpoolEntry, payload: [UInt8], reason: String, detail: String) throws {
        try FileSystem.makeDirectories(directory)
        try FileSystem.writeAtomically(payload, to: directory + "/" + entry.fileName)
        let meta: JSONValue = .object([
            ("sequence", .int(Int64(entry.sequence))), ("records", .int(Int64(entry.records))),
            ("format", .string(entry.format.rawValue)), ("reason", .string(reason)), ("detail", .string(detail)),
            ("deadLetteredAtMillis", .int(FileSystem.nowMillis())),
        ])
        try FileSystem.writeAtomically(Array(meta.serialized(pretty: true).utf8), to: directory + "/" + entry.fileName + ".json")
        try trim()
    }

    /// Dead-lettered batches, oldest first.
    public func list() throws -> [SpoolEntry] {
        var found: [SpoolEntry] = []
        for name in try FileSystem.list(directory) ?? [] {
            guard let st = try FileSystem.status(directory + "/" + name),
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else { continue }
            found.append(entry)
        }
        return found.sorted { $0.sequence < $1.sequence }
    }

    private func trim() throws {
        var entries = try list()
        var total = entries.reduce(0) { $0 + $1.bytes }
        while total > maxBytes, entries.count > 1 {
            let first = entries.removeFirst()
            total -= first.bytes
            try FileSystem.remove(directory + "/" + first.fileName)
            try FileSystem.remove(directory + "/" + first.fileName + ".json")
        }
    }
}
