import EdgeLogCore
import EdgeLogRotation
import Testing

/// The planner alone: files, state and a time in, steps out.
@Suite struct PlannerTests {
    func policy(_ configure: (inout RotationPolicySettings) -> Void = { _ in }) -> RotationPolicy {
        var s = RotationPolicySettings()
        s.paths = ["/logs/*.log"]
        configure(&s)
        return RotationPolicy(s, name: "rotation")
    }

    func file(size: Int64, rotated: [(String, Int64, Int64)] = []) -> ManagedFile {
        ManagedFile(
            path: "/logs/x.log", root: "/logs", components: [], name: "x.log", policy: 0, size: size,
            rotated: rotated.map { RotatedFile(name: RotatedName.parse($0.0, base: "x.log")!, fileName: $0.0, size: $0.1, modified: $0.2) })
    }

    func plan(_ p: RotationPolicy, _ f: ManagedFile, last: Int64?, now: Int64, force: Bool = false) -> FilePlan {
        let planner = RotationPlanner(policies: [p], globalBudget: 0)
        let state = RotationState(lastRotated: last.map { ["/logs/x.log": $0] } ?? [:])
        return planner.plan(RotationScan(files: [f]), state: state, now: now, force: force).files[0]
    }

    @Test func firstSeenIsRecordedNotRotated() {
        let planner = RotationPlanner(policies: [policy()], globalBudget: 0)
        let result = planner.plan(RotationScan(files: [file(size: 100)]), state: RotationState(), now: wednesday, force: false)
        #expect(result.files[0].rotation == nil)
        #expect(result.state.lastRotated == ["/logs/x.log": wednesday])
        // ...unless maxSize fires.
        let sized = plan(policy { $0.maxSize = 50 }, file(size: 100), last: nil, now: wednesday)
        #expect(sized.rotation?.trigger == .maxSize(size: 100, limit: 50))
    }

    @Test func dailyFiresOnTheNextCalendarDayOnly() {
        let evening = UTCTime.epochSeconds(year: 2026, month: 11, day: 25, hour: 23, minute: 50)
        #expect(plan(policy(), file(size: 10), last: wednesday, now: evening).rotation == nil)
        let next = plan(policy(), file(size: 10), last: wednesday, now: evening + 20 * 60)
        #expect(next.rotation?.trigger == .schedule(.daily, lastRotated: wednesday))
    }

    @Test func minSizeHoldsTheScheduleButNotMaxSize() {
        let tomorrow = wednesday + 86_400
        #expect(plan(policy { $0.minSize = 1000 }, file(size: 999), last: wednesday, now: tomorrow).rotation == nil)
        #expect(plan(policy { $0.minSize = 1000 }, file(size: 1000), last: wednesday, now: tomorrow).rotation != nil)
        #expect(plan(policy { $0.minSize = 1000; $0.maxSize = 500 }, file(size: 999), last: wednesday, now: wednesday).rotation != nil)
    }

    @Test func notIfEmptyOverridesEvenForce() {
        #expect(plan(policy(), file(size: 0), last: wednesday, now: wednesday, force: true).rotation == nil)
        #expect(plan(policy { $0.notIfEmpty = false }, file(size: 0), last: wednesday, now: wednesday, force: true).rotation != nil)
    }

    @Test func numberedShiftDeleteAndCompressLikeLogrotate() {
        let old = wednesday - 3_600
        let f = file(size: 10, rotated: [("x.log.1", 5, old), ("x.log.2.gz", 5, old), ("x.log.3.gz", 5, old), ("x.log.5.gz", 5, old)])
        let steps = plan(policy { $0.rotate = 3 }, f, last: nil, now: wednesday, force: true).steps
        #expect(
            steps == [
                .delete("x.log.5.gz", bytes: 5, reason: .count(keep: 3)),
                .delete("x.log.3.gz", bytes: 5, reason: .count(keep: 3)),
                .rotate(
                    Rotation(
                        trigger: .force, shifts: [Rename("x.log.2.gz", "x.log.3.gz"), Rename("x.log.1", "x.log.2")],
                        destination: "x.log.1", copyTruncate: true, discard: false)),
                .compress(source: "x.log.2", destination: "x.log.2.gz", level: 6),
            ])
    }

    @Test func budgetDeletesOldestRotatedFirstThenRotatesLargest() {
        var s = RotationSettings()
        s.policy.paths = ["/logs/*.log"]
        let p = RotationPolicy(s.policy, name: "rotation")
        let a = ManagedFile(
            path: "/logs/a.log", root: "/logs", components: [], name: "a.log", policy: 0, size: 400,
            rotated: [
                RotatedFile(name: .numbered(index: 1, compressed: false), fileName: "a.log.1", size: 300, modified: 300),
                RotatedFile(name: .numbered(index: 2, compressed: true), fileName: "a.log.2.gz", size: 100, modified: 100),
            ])
        let b = ManagedFile(
            path: "/logs/b.log", root: "/logs", components: [], name: "b.log", policy: 0, size: 600,
            rotated: [RotatedFile(name: .numbered(index: 1, compressed: false), fileName: "b.log.1", size: 200, modified: 200)])
        let planner = RotationPlanner(policies: [p], globalBudget: 1_300)
        let first = planner.planBudget(RotationScan(files: [a, b]), now: wednesday, allowRotation: false)
        // 1600 bytes: a.log.2.gz (oldest) then b.log.1 go, leaving 1300.
        let deleted = first.files.flatMap { plan in plan.steps.compactMap { step -> String? in
            if case .delete(let name, _, _) = step { return name } else { return nil } } }
        #expect(deleted.sorted() == ["a.log.2.gz", "b.log.1"])
        let tight = RotationPlanner(policies: [p], globalBudget: 500).planBudget(RotationScan(files: [a, b]), now: wednesday, allowRotation: true)
        // All rotated files go (1000 left), then the largest live file is rotated (never deleted).
        #expect(tight.files.first { $0.file.name == "b.log" }?.rotation?.trigger == .budget(limit: 500, scope: "all managed files"))
        #expect(tight.files.first { $0.file.name == "a.log" }?.rotation == nil)
    }
}
