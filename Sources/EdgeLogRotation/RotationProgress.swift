import Synchronization

/// The bytes a pass has to copy and compress, and how many it has done, for a progress display. Totals are added
/// as plans are made (a pass may plan again for budgets), work is counted as it happens (compression per chunk).
public final class RotationProgress: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var total: Int64 = 0
        public var done: Int64 = 0
        /// The file being worked on.
        public var current = ""
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func expect(_ bytes: Int64) { state.withLock { $0.total += max(0, bytes) } }

    func advance(_ bytes: Int64) { state.withLock { $0.done += max(0, bytes) } }

    func working(on file: String) { state.withLock { $0.current = file } }
}

extension RotationPlan {
    /// Bytes the plan will copy (copy-truncates) and compress.
    public var workBytes: Int64 {
        var total: Int64 = 0
        for plan in files {
            let file = plan.file
            var rotatedTo: String?
            for step in plan.steps {
                switch step {
                case .rotate(let r):
                    if r.copyTruncate { total += file.size }
                    rotatedTo = r.destination
                case .compress(let source, _, _):
                    if source == rotatedTo {
                        total += file.size
                    } else if let rotated = file.rotated.first(where: { $0.fileName == source }) {
                        total += rotated.size
                    }
                default:
                    break
                }
            }
        }
        return total
    }
}
