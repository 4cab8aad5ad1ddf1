import EdgeLogCore
import EdgeLogGzip

/// Placeholder until the rotation engine lands.
public struct Rotator: Sendable {
    public let settings: RotationSettings
    public init(settings: RotationSettings) { self.settings = settings }
}
