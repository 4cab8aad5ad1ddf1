/// One action on one managed file's folder. Names are file names in that folder.
public enum RotationStep: Sendable, Equatable {
    /// Remove a compression temporary left by an interrupted pass.
    case removeTemporary(String)
    /// `x.log.2` and `x.log.2.gz` both exist: the .gz was renamed into place only once complete, so the
    /// uncompressed one is removed, after checking that the .gz's length trailer matches it.
    case resolveDuplicate(uncompressed: String, compressed: String)
    /// Remove a rotated file.
    case delete(String, bytes: Int64, reason: DeletionReason)
    /// Rotate the live file.
    case rotate(Rotation)
    /// gzip `source` into `destination` (temp name, fsync, rename, then remove `source`).
    case compress(source: String, destination: String, level: Int)
}

/// Rotating the live file: shift the numbered files, then copy-and-truncate or rename into `destination`.
public struct Rotation: Sendable, Equatable {
    public var trigger: RotationTrigger
    /// Renames done first, oldest first (`x.log.6.gz` → `x.log.7.gz`, ..., `x.log.1` → `x.log.2`).
    public var shifts: [Rename]
    /// The new rotated file's name (never compressed at this point).
    public var destination: String
    /// Copy then truncate in place; false renames the live file.
    public var copyTruncate: Bool
    /// `rotate 0`: the rotated file is removed once a tailer has taken what it needs from it.
    public var discard: Bool

    public init(trigger: RotationTrigger, shifts: [Rename], destination: String, copyTruncate: Bool, discard: Bool) {
        self.trigger = trigger
        self.shifts = shifts
        self.destination = destination
        self.copyTruncate = copyTruncate
        self.discard = discard
    }
}

/// A rename in a folder.
public struct Rename: Sendable, Equatable {
    public var from: String
    public var to: String

    public init(_ from: String, _ to: String) {
        self.from = from
        self.to = to
    }
}

/// Why a file is rotated.
public enum RotationTrigger: Sendable, Equatable, CustomStringConvertible {
    /// `--force`.
    case force
    /// Larger than `maxSize`.
    case maxSize(size: Int64, limit: Int64)
    /// The schedule's period changed since the last rotation.
    case schedule(RotationSchedule, lastRotated: Int64)
    /// The managed files exceed a `maxTotalBytes` budget.
    case budget(limit: Int64, scope: String)

    public var description: String {
        switch self {
        case .force: return "forced"
        case .maxSize(let size, let limit): return "size \(size) is over maxSize \(limit)"
        case .schedule(let schedule, let last): return "\(schedule.rawValue) schedule, last rotated \(UTCTime.iso8601(last))"
        case .budget(let limit, let scope): return "\(scope) over its maxTotalBytes \(limit)"
        }
    }
}

/// Why a rotated file is removed.
public enum DeletionReason: Sendable, Equatable, CustomStringConvertible {
    /// More rotated files than `rotate`.
    case count(keep: Int)
    /// Older than `maxAgeDays`.
    case age(days: Int64)
    /// A `maxTotalBytes` budget is exceeded; oldest first.
    case budget(limit: Int64, scope: String)

    public var description: String {
        switch self {
        case .count(let keep): return "beyond rotate \(keep)"
        case .age(let days): return "older than maxAgeDays \(days)"
        case .budget(let limit, let scope): return "\(scope) over its maxTotalBytes \(limit)"
        }
    }
}

/// The steps for one managed file, done in order; the first that fails ends that file's steps for this pass.
public struct FilePlan: Sendable, Equatable {
    public var file: ManagedFile
    public var steps: [RotationStep]
    /// Why the file is or is not rotated, for `--dry-run` and the debug log.
    public var decision: String

    public init(file: ManagedFile, steps: [RotationStep], decision: String) {
        self.file = file
        self.steps = steps
        self.decision = decision
    }

    /// The rotation among the steps, if any.
    public var rotation: Rotation? {
        for step in steps { if case .rotate(let r) = step { return r } }
        return nil
    }
}

/// What a pass will do.
public struct RotationPlan: Sendable, Equatable {
    public var files: [FilePlan] = []
    /// The state to save, before the rotations of this plan (each successful one then records its time).
    public var state = RotationState()
    /// Errors found while planning (a file left alone because something foreign sits where a rotated file goes).
    public var problems: [String] = []
    public var notes: [String] = []

    public init(files: [FilePlan] = [], state: RotationState = RotationState(), problems: [String] = [], notes: [String] = []) {
        self.files = files
        self.state = state
        self.problems = problems
        self.notes = notes
    }

    /// True if nothing is to be done.
    public var isEmpty: Bool { files.allSatisfy { $0.steps.isEmpty } }
}
