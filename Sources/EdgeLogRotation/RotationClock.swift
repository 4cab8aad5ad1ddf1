import EdgeLogCore

/// Where rotation gets the time: the wall clock in production, a fixed or stepped one in tests.
public protocol RotationClock: Sendable {
    /// Seconds since the epoch.
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemRotationClock: RotationClock {
    public init() {}
    public func now() -> Int64 { FileSystem.now().seconds }
}
