/// When each managed file was last rotated, like logrotate's state file.
public struct RotationState: Sendable, Equatable {
    /// Path → seconds since the epoch of its last rotation (or of when it was first seen).
    public var lastRotated: [String: Int64]

    public init(lastRotated: [String: Int64] = [:]) {
        self.lastRotated = lastRotated
    }
}
