import CSystemd
import EdgeLogCore

/// Host logs from journald (placeholder until the journal source lands).
public struct JournalSource: LogSource {
    public let settings: JournalSettings
    public init(settings: JournalSettings) { self.settings = settings }
    public var name: String { "journal" }
    public func run(_ context: SourceContext) async throws {}
}
