/// Decides what a pass does, from the scanned files, the saved state and the time: pure, no I/O, no clock of
/// its own (the time comes in), so every trigger is testable without waiting.
///
/// Per file, in order: stale compression temporaries go; a rotated file present both compressed and not is
/// settled; rotated files older than `maxAgeDays` and beyond `rotate` are deleted, oldest first; the live file is
/// rotated if a trigger fires (`--force`, `maxSize`, the schedule at or above `minSize`; never an empty file with
/// `notIfEmpty`); rotated files that should be compressed are (all but the newest with `delayCompress`).
public struct RotationPlanner: Sendable {
    public let policies: [RotationPolicy]
    /// `rotation.maxTotalBytes`; 0 means none.
    public let globalBudget: Int64

    public init(policies: [RotationPolicy], globalBudget: Int64) {
        self.policies = policies
        self.globalBudget = globalBudget
    }

    /// The regular pass: triggers, retention and compression for every scanned file.
    public func plan(_ scan: RotationScan, state: RotationState, now: Int64, force: Bool) -> RotationPlan {
        var plan = RotationPlan()
        if !scan.problems.isEmpty {
            // Something could not be scanned: keep the entries of files not seen rather than forget them.
            plan.state = state
        }
        for file in scan.files {
            let policy = policies[file.policy]
            let last = state.lastRotated[file.path]
            var recorded = last ?? now
            var trigger: RotationTrigger?
            var decision: String
            if force {
                trigger = .force
                decision = "forced"
            } else if policy.maxSize > 0 && file.size > policy.maxSize {
                trigger = .maxSize(size: file.size, limit: policy.maxSize)
                decision = "size \(file.size) is over maxSize \(policy.maxSize)"
            } else if let last {
                switch policy.schedule.verdict(lastRotated: last, now: now) {
                case .due where file.size >= policy.minSize:
                    trigger = .schedule(policy.schedule, lastRotated: last)
                    decision = "\(policy.schedule.rawValue) schedule is due (last rotated \(UTCTime.iso8601(last)))"
                case .due:
                    decision = "\(policy.schedule.rawValue) schedule is due but size \(file.size) is under minSize \(policy.minSize)"
                case .notDue:
                    decision = policy.schedule == .none
                        ? "no trigger (schedule none, size \(file.size)\(policy.maxSize > 0 ? " within maxSize \(policy.maxSize)" : ""))"
                        : "not due (\(policy.schedule.rawValue) schedule, last rotated \(UTCTime.iso8601(last)))"
                case .lastRotationInFuture:
                    recorded = now
                    decision = "last rotation \(UTCTime.iso8601(last)) is after now (the clock went back): schedule restarts now"
                    plan.notes.append("\(file.path): \(decision)")
                }
            } else {
                decision = "first seen: its schedule starts now, as logrotate does"
            }
            if trigger != nil && policy.notIfEmpty && file.size == 0 {
                trigger = nil
                decision = "empty (notIfEmpty)"
            }
            plan.state.lastRotated[file.path] = recorded
            if !file.foreign.isEmpty {
                plan.problems.append(
                    "\(file.path): \(file.foreign.joined(separator: ", ")) in its folder \(file.foreign.count == 1 ? "is" : "are") not a regular file where a rotated file belongs (a symlink?); the file is left alone until that is removed"
                )
                plan.files.append(FilePlan(file: file, steps: [], decision: "left alone: foreign entries where rotated files belong"))
                continue
            }
            let steps = Self.steps(for: file, policy: policy, trigger: trigger, now: now)
            plan.files.append(FilePlan(file: file, steps: steps, decision: (trigger != nil ? "rotating: " : "not rotating: ") + decision))
        }
        return plan
    }

    /// The budget pass: for each `maxTotalBytes` (each policy's, then the global one) that the managed files
    /// exceed, the oldest rotated files are deleted first; if that is not enough and `allowRotation`, the largest
    /// live files are rotated (their content becomes rotated files a later budget pass may delete). A live file
    /// is never deleted.
    public func planBudget(_ scan: RotationScan, now: Int64, allowRotation: Bool) -> RotationPlan {
        var scopes: [(members: [Int], limit: Int64, name: String)] = []
        for (p, policy) in policies.enumerated() where policy.maxTotalBytes > 0 {
            scopes.append((scan.files.indices.filter { scan.files[$0].policy == p }, policy.maxTotalBytes, policy.name))
        }
        if globalBudget > 0 {
            scopes.append((Array(scan.files.indices), globalBudget, "all managed files"))
        }
        var deleted: [Int: [(RotatedFile, DeletionReason)]] = [:]
        var gone = Set<String>()
        var rotating: [Int: RotationTrigger] = [:]
        for scope in scopes {
            var total: Int64 = 0
            var candidates: [(file: Int, rotated: RotatedFile)] = []
            for i in scope.members {
                total += scan.files[i].size
                for r in scan.files[i].rotated where !gone.contains(scan.files[i].directory + "/" + r.fileName) {
                    total += r.size
                    candidates.append((i, r))
                }
            }
            guard total > scope.limit else { continue }
            candidates.sort { a, b in
                if a.rotated.modified != b.rotated.modified { return a.rotated.modified < b.rotated.modified }
                if a.file == b.file { return b.rotated.name.isNewer(than: a.rotated.name) }
                return scan.files[a.file].path < scan.files[b.file].path
            }
            let reason = DeletionReason.budget(limit: scope.limit, scope: scope.name)
            for c in candidates where total > scope.limit {
                deleted[c.file, default: []].append((c.rotated, reason))
                gone.insert(scan.files[c.file].directory + "/" + c.rotated.fileName)
                total -= c.rotated.size
            }
            guard total > scope.limit && allowRotation else { continue }
            let live = scope.members.filter { scan.files[$0].size > 0 && rotating[$0] == nil && scan.files[$0].foreign.isEmpty }
                .sorted { scan.files[$0].size > scan.files[$1].size }
            for i in live where total > scope.limit {
                rotating[i] = .budget(limit: scope.limit, scope: scope.name)
                total -= scan.files[i].size
            }
        }
        var plan = RotationPlan()
        for i in scan.files.indices where deleted[i] != nil || rotating[i] != nil {
            var file = scan.files[i]
            let removals = deleted[i] ?? []
            var steps = removals.map { RotationStep.delete($0.0.fileName, bytes: $0.0.size, reason: $0.1) }
            file.rotated.removeAll { r in removals.contains { $0.0.fileName == r.fileName } }
            var decision = "over budget: deleting \(removals.count) rotated file(s)"
            if let trigger = rotating[i] {
                steps += Self.steps(for: file, policy: policies[file.policy], trigger: trigger, now: now)
                decision += " and rotating (\(trigger))"
            }
            plan.files.append(FilePlan(file: scan.files[i], steps: steps, decision: decision))
        }
        return plan
    }

    /// The steps for one file, `trigger` nil meaning only upkeep (retention, compression, leftovers).
    static func steps(for file: ManagedFile, policy: RotationPolicy, trigger: RotationTrigger?, now: Int64) -> [RotationStep] {
        let base = file.name
        let naming = policy.naming
        var steps = file.temporaries.sorted().map(RotationStep.removeTemporary)
        var rotated = file.rotated
        let present = Set(rotated.map(\.name))
        rotated.removeAll { r in
            guard !r.name.compressed, present.contains(r.name.with(compressed: true)) else { return false }
            steps.append(.resolveDuplicate(uncompressed: r.fileName, compressed: r.name.with(compressed: true).fileName(base: base)))
            return true
        }

        // Retention: age first, then count; deleted oldest first.
        var deletions: [(RotatedFile, DeletionReason)] = []
        if let maxAge = policy.maxAgeSeconds {
            for r in rotated where now - r.modified > maxAge { deletions.append((r, .age(days: maxAge / 86_400))) }
        }
        var survivors = rotated.filter { r in !deletions.contains { $0.0.fileName == r.fileName } }
        let current = survivors.filter { naming.isCurrentForm($0.name) }.sorted { $0.name.isNewer(than: $1.name) }
        let rotating = trigger != nil
        if naming.dateExt {
            let keep = max(0, rotating ? policy.rotate - 1 : policy.rotate)
            for r in current.dropFirst(keep) { deletions.append((r, .count(keep: policy.rotate))) }
        } else {
            // logrotate shifts every numbered file up by one and disposes of what passes `rotate`.
            let highest = rotating ? policy.rotate - 1 : policy.rotate
            for r in current {
                if case .numbered(let index, _) = r.name, index > highest { deletions.append((r, .count(keep: policy.rotate))) }
            }
        }
        survivors.removeAll { r in deletions.contains { $0.0.fileName == r.fileName } }
        deletions.sort { a, b in
            a.0.modified != b.0.modified ? a.0.modified < b.0.modified : b.0.name.isNewer(than: a.0.name)
        }
        steps += deletions.map { RotationStep.delete($0.0.fileName, bytes: $0.0.size, reason: $0.1) }

        // Rotation.
        var afterward = survivors.map(\.name)
        if let trigger {
            var shifts: [Rename] = []
            let destination: RotatedName
            if naming.dateExt {
                let stamp = naming.stamp(now: now)
                var sequence = 1
                for name in afterward {
                    if case .dated(let s, let q, _) = name, s == stamp { sequence = max(sequence, q + 1) }
                }
                destination = .dated(stamp: stamp, sequence: sequence, compressed: false)
            } else {
                let numbered = survivors.filter { naming.isCurrentForm($0.name) }.sorted { $1.name.isNewer(than: $0.name) }
                shifts = numbered.map { Rename($0.fileName, $0.name.shifted.fileName(base: base)) }
                afterward = afterward.map { naming.isCurrentForm($0) ? $0.shifted : $0 }
                destination = .numbered(index: 1, compressed: false)
            }
            let discard = policy.rotate == 0
            steps.append(
                .rotate(
                    Rotation(
                        trigger: trigger, shifts: shifts, destination: destination.fileName(base: base),
                        copyTruncate: policy.copyTruncate, discard: discard)))
            if !discard { afterward.append(destination) }
        }

        // Compression: every uncompressed rotated file but the newest with delayCompress.
        if policy.compress {
            let newest = afterward.filter { naming.isCurrentForm($0) }.min { $0.isNewer(than: $1) }
            let names = Set(afterward)
            for name in afterward.sorted(by: { $1.isNewer(than: $0) }) where !name.compressed {
                if policy.delayCompress && name == newest { continue }
                let target = name.with(compressed: true)
                if names.contains(target) { continue }
                steps.append(
                    .compress(source: name.fileName(base: base), destination: target.fileName(base: base), level: policy.compressionLevel))
            }
        }
        return steps
    }
}
