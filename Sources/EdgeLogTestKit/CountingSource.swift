import EdgeLogCore

/// Records `{"s":source,"n":i,"pad":…}` of about `size` bytes, positions as cursors "source:n".
public func makeChunk(source: String, from start: Int, count: Int, size: Int = 60) -> RecordChunk {
    var chunk = RecordChunk(source: source)
    for i in start..<(start + count) {
        let body =
            "{\"s\":\"\(source)\",\"n\":\(i),\"pad\":\"" + String(repeating: "x", count: max(0, size - 30)) + "\"}"
        chunk.data.append(contentsOf: body.utf8)
        chunk.closeRecord(at: .cursor("\(source):\(i)"))
    }
    return chunk
}

/// Emits `total` numbered records (`makeChunk`) in chunks of `perChunk`, resuming after its checkpoint; then,
/// in follow mode, waits to be cancelled.
public struct CountingSource: LogSource {
    public let name: String
    public let total: Int
    public let perChunk: Int
    public var size: Int

    public init(name: String, total: Int, perChunk: Int, size: Int = 60) {
        self.name = name
        self.total = total
        self.perChunk = perChunk
        self.size = size
    }

    public func run(_ context: SourceContext) async throws {
        var start = 0
        if case .cursor(let c)? = context.checkpoints[name], let n = Int(c.split(separator: ":").last ?? "") {
            start = n + 1
        }
        while start < total {
            let count = min(perChunk, total - start)
            await context.emit(makeChunk(source: name, from: start, count: count, size: size))
            start += count
        }
        if context.mode == .follow {
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
