/// What a pass did (or, with `--dry-run`, would do), in the order it happened.
public struct RotationReport: Sendable, Equatable {
    /// Nothing was changed; `actions` are what would be done.
    public var dryRun: Bool
    /// One line per action, like `logrotate -v` (`-d` for a dry run).
    public var actions: [String] = []
    /// Why each file is or is not rotated (every file scanned).
    public var decisions: [String] = []
    /// Failures and refusals; each was counted in `rotationErrors`.
    public var errors: [String] = []
    /// Worth knowing but not wrong (a pattern that matched nothing, with missingOk).
    public var notes: [String] = []
    /// Every decision, action, error and note in the order they happened.
    public var events: [RotationEvent] = []
    public var rotations = 0
    public var filesDeleted = 0
    public var bytesCompressed: Int64 = 0
    public var bytesFreed: Int64 = 0

    public init(dryRun: Bool) {
        self.dryRun = dryRun
    }

    /// True if nothing failed.
    public var succeeded: Bool { errors.isEmpty }

    /// One line for the log.
    public var summary: String {
        let verb = dryRun ? "would rotate" : "rotated"
        return "\(verb) \(rotations) file(s), deleted \(filesDeleted), compressed \(bytesCompressed) bytes, freed \(bytesFreed) bytes, \(errors.count) error(s)"
    }
}

/// Something a pass reports as it goes, for a log.
public enum RotationEvent: Sendable, Equatable {
    case action(String)
    case decision(String)
    case error(String)
    case note(String)
}
