/// How the rotation engine and a source that tails the same file close logrotate's copytruncate loss window.
/// Rotation and the Docker source never import each other; the application connects them through this.
///
/// 1. `prepareTruncation(path:)`: the tailer reads the live file up to its size at that moment (never chasing a
///    faster writer), hands those records on, and stops reading that file until step 3. Returns false if it
///    does not follow `path` (nothing to do).
/// 2. Rotation copies the file to its rotated name, copies again whatever was appended meanwhile until it has
///    caught up, and truncates at once.
/// 3. `finishTruncation(path:truncatedAt:rotatedCopy:)`: the tailer takes the bytes between where it had read to
///    and `truncatedAt` from the rotated copy (still uncompressed), then restarts the live file at 0.
///    Rotation compresses the copy only after this returns.
public protocol TruncationCoordinator: Sendable {
    func prepareTruncation(path: String) async -> Bool
    func finishTruncation(path: String, truncatedAt: Int64, rotatedCopy: String) async
    /// Rotation gave up after `prepareTruncation` (the copy failed, the file vanished): the tailer resumes as before.
    func cancelTruncation(path: String) async
}

extension TruncationCoordinator {
    public func cancelTruncation(path: String) async {}
}

/// For files no source follows.
public struct NoTruncationCoordination: TruncationCoordinator {
    public init() {}
    public func prepareTruncation(path: String) async -> Bool { false }
    public func finishTruncation(path: String, truncatedAt: Int64, rotatedCopy: String) async {}
}
