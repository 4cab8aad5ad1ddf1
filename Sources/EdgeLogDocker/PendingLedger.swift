/// Memory held by messages being rejoined, over every container of one Docker source (`docker.maxPendingBytes`).
/// Owned by the source's task, like the tailers that add to it.
final class PendingLedger {
    let limit: Int
    var bytes = 0

    init(limit: Int) { self.limit = limit }

    var isOver: Bool { bytes > limit }
}
