/// The `rotation` section: logrotate's policy, applied by EdgeLog itself.
///
/// The policy keys (`paths`, `schedule`, `rotate`, ...) sit directly in the section: that is the first policy,
/// whose `paths` default to Docker's json-file logs. `policies` adds more, each a section with its own `paths`
/// that starts from the section's values and overrides what it gives. `checkIntervalSeconds`, `roots` and the
/// section's `maxTotalBytes` (the global budget) are section-wide.
public struct RotationSettings: Sendable, Equatable {
    /// Rotate at all inside `edgelog run` (`edgelog rotate` runs a pass whatever this says).
    public var enabled = false
    /// Seconds between checks of the triggers (maxSize, schedule, budget) inside `edgelog run`.
    public var checkIntervalSeconds: Double = 60
    /// Folders rotation may touch. Empty: each glob may touch only its own root, the longest folder of its
    /// pattern without a wildcard (`/var/log/app/*.log` → `/var/log/app`). Given: every glob's root must be
    /// inside one of them. The default paths' root (`docker.containersDirectory`) is always allowed.
    public var roots: [String] = []
    /// Global disk budget over every managed file (live and rotated, all policies); 0 means none.
    public var maxTotalBytes: Int64 = 0
    /// The section's own policy; its `paths` empty means `<docker.containersDirectory>/*/*-json.log`.
    public var policy = RotationPolicySettings()
    /// Further policies for other log files; each inherits the section's policy keys.
    public var policies: [RotationPolicySettings] = []

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        checkIntervalSeconds = r.seconds("checkIntervalSeconds", checkIntervalSeconds, min: 1, max: 86_400)
        roots = r.strings("roots", roots)
        for (i, root) in roots.enumerated() {
            if let problem = Self.problem(withFolder: root) {
                r.report("roots[\(i)]", "\"\(root)\" \(problem.0)", fix: problem.1)
            } else if Self.hasWildcard(root) {
                r.report("roots[\(i)]", "\"\(root)\" has a wildcard", fix: "give a plain folder")
            }
        }
        roots = roots.map(Self.normalizedFolder)
        maxTotalBytes = r.size("maxTotalBytes", maxTotalBytes, min: 0)
        policy = RotationPolicySettings(reading: &r, inheriting: RotationPolicySettings(), topLevel: true, roots: roots)
        let base = policy
        if let read = r.objects("policies", fix: "give a list of sections, each with its own \"paths\"", { child in
            RotationPolicySettings(reading: &child, inheriting: base, topLevel: false, roots: roots)
        }) {
            policies = read
        }
    }

    /// The policies in force: the section's own first (its empty `paths` replaced by the Docker json-file logs
    /// under `containersDirectory`), then `policies` in order. A file matched by two policies follows the first.
    public func effectivePolicies(containersDirectory: String) -> [RotationPolicySettings] {
        var first = policy
        if first.paths.isEmpty {
            first.paths = [Self.dockerLogsGlob(containersDirectory: containersDirectory)]
        }
        return [first] + policies
    }

    /// The default `paths`: every container's json-file log.
    public static func dockerLogsGlob(containersDirectory: String) -> String {
        normalizedFolder(containersDirectory) + "/*/*-json.log"
    }

    /// The folders globs may reach: `roots` plus the containers directory (the default paths' root).
    /// Empty `roots` returns empty: each glob is then confined to its own fixed prefix.
    public func allowedRoots(containersDirectory: String) -> [String] {
        roots.isEmpty ? [] : roots + [Self.normalizedFolder(containersDirectory)]
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("enabled", .bool(enabled)),
            ("checkIntervalSeconds", .double(checkIntervalSeconds)),
            ("roots", .array(roots.map(JSONValue.string))),
            ("maxTotalBytes", .int(maxTotalBytes)),
        ]
        members += policy.members(includeBudget: false)
        members.append(("policies", .array(policies.map { .object($0.members(includeBudget: true)) })))
        return .object(members)
    }

    // MARK: - Paths

    /// True if `s` has a glob(3) wildcard (`*`, `?` or `[`).
    public static func hasWildcard<S: StringProtocol>(_ s: S) -> Bool {
        s.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" })
    }

    /// The longest folder of `glob` without a wildcard: `/var/lib/docker/containers/*/*-json.log` →
    /// `/var/lib/docker/containers`; `/var/log/app.log` → `/var/log`.
    public static func fixedPrefix(of glob: String) -> String {
        let parts = glob.split(separator: "/", omittingEmptySubsequences: true)
        var fixed: [Substring] = []
        for part in parts.dropLast() {
            if hasWildcard(part) { break }
            fixed.append(part)
        }
        return "/" + fixed.joined(separator: "/")
    }

    /// True if `path` is `folder` or inside it (both normalised, no `..`).
    public static func isInside(_ path: String, _ folder: String) -> Bool {
        folder == "/" || path == folder || path.hasPrefix(folder + "/")
    }

    /// Why `glob` cannot be a rotation pattern at all (relative, `..`, a folder, no fixed folder), with the fix;
    /// nil if it can.
    public static func problemWithPattern(_ glob: String) -> (problem: String, fix: String)? {
        if let problem = problem(withFolder: glob) {
            return (problem.0, problem.1 == "give an absolute path" ? "give an absolute glob such as \"/var/log/app/*.log\"" : problem.1)
        }
        if glob.hasSuffix("/") { return ("names a folder", "end the pattern with a file name pattern") }
        if fixedPrefix(of: glob) == "/" {
            return ("has no fixed folder to confine it", "start the pattern with the folder it manages, e.g. \"/var/log/app/*.log\"")
        }
        return nil
    }

    static func normalizedFolder(_ path: String) -> String {
        "/" + path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }

    /// Why an absolute path or glob cannot be used, with the fix; nil if fine.
    static func problem(withFolder path: String) -> (String, String)? {
        if path.isEmpty { return ("is empty", "give an absolute path") }
        if !path.hasPrefix("/") { return ("is a relative path", "give an absolute path") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if parts.contains(where: { $0 == ".." || $0 == "." }) {
            return ("has a \".\" or \"..\" component", "write the path without them")
        }
        return nil
    }
}

/// One rotation policy: which files, when to rotate them, how many rotated files to keep and how.
/// The keys and defaults are logrotate's, as Microsoft's IoT Edge production checklist sets them:
/// copytruncate, daily, rotate 7, delaycompress, compress, notifempty, missingok (plus maxage 7).
public struct RotationPolicySettings: Sendable, Equatable {
    /// Absolute glob(3) patterns (`*`, `?`, `[...]`; no `.` or `..`) of the files this policy manages.
    public var paths: [String] = []
    /// Time trigger: `hourly`, `daily`, `weekly` or `none` (UTC). A `maxSize` given without it means `none`.
    public var schedule = "daily"
    /// Rotate as soon as a file is larger than this (checked every `checkIntervalSeconds`); 0: no size trigger.
    public var maxSize: Int64 = 0
    /// Do not rotate on schedule while a file is smaller than this; 0: any size.
    public var minSize: Int64 = 0
    /// Rotated files to keep (logrotate's `rotate`); 0 discards the content at each rotation.
    public var rotate: Int64 = 7
    /// Delete rotated files last modified more than this many days ago (logrotate's `maxage`); 0: no limit.
    public var maxAgeDays: Int64 = 7
    /// gzip rotated files.
    public var compress = true
    /// gzip level, 1 (fastest) to 9 (smallest).
    public var compressionLevel: Int64 = 6
    /// Leave the newest rotated file uncompressed (it is compressed at the next rotation).
    public var delayCompress = true
    /// Copy the file and truncate it in place (the writer keeps its file open); false: rename it, and the
    /// writer reopens its file.
    public var copyTruncate = true
    /// Do not rotate an empty file.
    public var notIfEmpty = true
    /// A pattern that matches nothing is not an error.
    public var missingOk = true
    /// Name rotated files `x.log-YYYYMMDD` (hourly: `x.log-YYYYMMDDHH`) instead of `x.log.1`.
    public var dateExt = false
    /// Disk budget over this policy's files, live and rotated; 0: none. Only in a `policies` entry (the
    /// section's own `maxTotalBytes` is the global budget, and entries do not inherit it).
    public var maxTotalBytes: Int64 = 0

    /// The values of `schedule`.
    public static let schedules = ["hourly", "daily", "weekly", "none"]

    public init() {}

    init(reading r: inout ConfigReader, inheriting base: RotationPolicySettings, topLevel: Bool, roots: [String]) {
        self = base
        paths = r.strings("paths", [])
        if !topLevel && paths.isEmpty {
            r.report("paths", "is missing or empty", fix: "give the globs of the files this policy manages")
        }
        for (i, glob) in paths.enumerated() {
            if let (problem, fix) = Self.problem(withGlob: glob, roots: roots) {
                r.report("paths[\(i)]", "\"\(glob)\" \(problem)", fix: fix)
            }
        }
        let scheduleGiven = r.raw("schedule") != nil
        schedule = r.choice("schedule", base.schedule, Self.schedules)
        let maxSizeGiven = r.raw("maxSize") != nil
        maxSize = r.size("maxSize", base.maxSize, min: 0)
        if maxSizeGiven && !scheduleGiven && maxSize > 0 { schedule = "none" }
        minSize = r.size("minSize", base.minSize, min: 0)
        rotate = r.int("rotate", base.rotate, min: 0, max: 100_000)
        maxAgeDays = r.int("maxAgeDays", base.maxAgeDays, min: 0, max: 36_500)
        compress = r.bool("compress", base.compress)
        compressionLevel = r.int("compressionLevel", base.compressionLevel, min: 1, max: 9)
        delayCompress = r.bool("delayCompress", base.delayCompress)
        copyTruncate = r.bool("copyTruncate", base.copyTruncate)
        notIfEmpty = r.bool("notIfEmpty", base.notIfEmpty)
        missingOk = r.bool("missingOk", base.missingOk)
        dateExt = r.bool("dateExt", base.dateExt)
        maxTotalBytes = topLevel ? 0 : r.size("maxTotalBytes", 0, min: 0)
    }

    /// Why `glob` cannot be a rotation pattern under `roots`, with the fix; nil if it can.
    static func problem(withGlob glob: String, roots: [String]) -> (String, String)? {
        if let problem = RotationSettings.problemWithPattern(glob) { return problem }
        let root = RotationSettings.fixedPrefix(of: glob)
        if !roots.isEmpty && !roots.contains(where: { RotationSettings.isInside(root, RotationSettings.normalizedFolder($0)) }) {
            return (
                "reaches outside rotation.roots (\(roots.joined(separator: ", ")))",
                "add its folder \(root) to rotation.roots or change the pattern"
            )
        }
        return nil
    }

    func members(includeBudget: Bool) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("paths", .array(paths.map(JSONValue.string))),
            ("schedule", .string(schedule)),
            ("maxSize", .int(maxSize)),
            ("minSize", .int(minSize)),
            ("rotate", .int(rotate)),
            ("maxAgeDays", .int(maxAgeDays)),
            ("compress", .bool(compress)),
            ("compressionLevel", .int(compressionLevel)),
            ("delayCompress", .bool(delayCompress)),
            ("copyTruncate", .bool(copyTruncate)),
            ("notIfEmpty", .bool(notIfEmpty)),
            ("missingOk", .bool(missingOk)),
            ("dateExt", .bool(dateExt)),
        ]
        if includeBudget { members.append(("maxTotalBytes", .int(maxTotalBytes))) }
        return members
    }

    /// The policy as a JSON object, every key with its value.
    public var json: JSONValue { .object(members(includeBudget: true)) }
}
