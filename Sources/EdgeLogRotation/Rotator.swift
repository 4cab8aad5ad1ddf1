import EdgeLogCore

/// One rotation pass over every policy: lock, load state, scan, plan, execute (or describe), budget, save state.
public struct Rotator: Sendable {
    public let settings: RotationSettings
    public let containersDirectory: String
    public let stateDirectory: String
    public let ops: any FileOperations
    public let clock: any RotationClock
    public let coordinator: any TruncationCoordinator
    public let counters: Counters
    public let onEvent: (@Sendable (RotationEvent) -> Void)?
    /// Told of the work planned and done, for a progress display.
    public let progress: RotationProgress?

    /// - Parameters:
    ///   - containersDirectory: where the default `paths` (Docker json-file logs) are.
    ///   - stateDirectory: where `rotation-state.json` and `rotation.lock` live.
    ///   - coordinator: told before and after each copy-truncate so a tailer loses nothing.
    ///   - onEvent: called for each decision, action, error and note as it happens (for a log or a terminal).
    public init(
        settings: RotationSettings, containersDirectory: String, stateDirectory: String,
        ops: any FileOperations = SystemFileOperations(), clock: any RotationClock = SystemRotationClock(),
        coordinator: any TruncationCoordinator = NoTruncationCoordination(), counters: Counters = Counters(),
        onEvent: (@Sendable (RotationEvent) -> Void)? = nil, progress: RotationProgress? = nil
    ) {
        self.settings = settings
        self.containersDirectory = containersDirectory
        self.stateDirectory = stateDirectory
        self.ops = ops
        self.clock = clock
        self.coordinator = coordinator
        self.counters = counters
        self.onEvent = onEvent
        self.progress = progress
    }

    /// The resolved policies, in order.
    public var policies: [RotationPolicy] { RotationPolicy.resolve(settings, containersDirectory: containersDirectory) }

    /// One pass. `force` rotates every non-empty file (empty ones too without notIfEmpty) whatever the triggers;
    /// `dryRun` changes nothing (no lock, no state written) and reports what would be done.
    public func pass(force: Bool = false, dryRun: Bool = false) async -> RotationReport {
        var report = RotationReport(dryRun: dryRun)
        let executor = RotationExecutor(
            ops: ops, coordinator: coordinator, counters: counters, onEvent: onEvent, progress: progress)
        if dryRun {
            await run(force: force, dryRun: true, executor: executor, report: &report)
            return report
        }
        let lockPath = "\(stateDirectory)/\(RotationLock.fileName)"
        switch await acquireLock() {
        case .success(let lock?):
            await run(force: force, dryRun: false, executor: executor, report: &report)
            lock.release()
        case .success(nil):
            executor.fail("another rotation pass holds \(lockPath); this pass is skipped", into: &report)
        case .failure(let error):
            executor.fail("cannot take \(lockPath): \(error); no pass", into: &report)
        }
        return report
    }

    private func acquireLock() async -> Result<RotationLock?, any Error> {
        let ops = self.ops
        let stateDirectory = self.stateDirectory
        return await BlockingPool.run { () -> Result<RotationLock?, any Error> in
            Result { try RotationLock.acquire(stateDirectory: stateDirectory, ops: ops) }
        }
    }

    private func run(force: Bool, dryRun: Bool, executor: RotationExecutor, report: inout RotationReport) async {
        let policies = self.policies
        let planner = RotationPlanner(policies: policies, globalBudget: settings.maxTotalBytes)
        let scanner = RotationScanner(
            policies: policies, guardian: RootGuard(roots: settings.allowedRoots(containersDirectory: containersDirectory)), ops: ops)
        let stateFile = RotationStateFile(directory: stateDirectory)
        let now = clock.now()
        var state: RotationState
        let loaded = await BlockingPool.run { () -> Result<RotationState, RotationStateFile.LoadError> in
            do throws(RotationStateFile.LoadError) { return .success(try stateFile.load()) } catch { return .failure(error) }
        }
        switch loaded {
        case .success(let saved):
            state = saved
        case .failure(let error):
            switch error {
            case .unknownVersion(let message):
                executor.fail("\(message); no pass until it is moved away", into: &report)
                return
            case .damaged(let message):
                if !dryRun { try? stateFile.moveAside(now: now) }
                executor.fail("\(message); moved aside, starting with an empty state", into: &report)
                state = RotationState()
            }
        }

        let scan = await BlockingPool.run { scanner.scan() }
        for problem in scan.problems { executor.fail(problem, into: &report) }
        for note in scan.notes { executor.emit(.note(note), into: &report) }
        let plan = planner.plan(scan, state: state, now: now, force: force)
        for problem in plan.problems { executor.fail(problem, into: &report) }
        for note in plan.notes { executor.emit(.note(note), into: &report) }
        let budgeted = settings.maxTotalBytes > 0 || policies.contains { $0.maxTotalBytes > 0 }

        if dryRun {
            executor.describe(plan, report: &report)
            if budgeted {
                let projected = scan.projected(after: plan, now: now)
                executor.describe(planner.planBudget(projected, now: now, allowRotation: true), report: &report)
            }
            return
        }

        var newState = plan.state
        progress?.expect(plan.workBytes)
        await executor.execute(plan, state: &newState, now: now, report: &report)
        if budgeted {
            // Budgets look at what is on disk after the regular steps: delete oldest first, rotate if that is not
            // enough, then delete again what that rotation produced if still over.
            for round in 0..<2 {
                let rescan = await BlockingPool.run { scanner.scan() }
                let budgetPlan = planner.planBudget(rescan, now: now, allowRotation: round == 0)
                if budgetPlan.isEmpty { break }
                progress?.expect(budgetPlan.workBytes)
                await executor.execute(budgetPlan, state: &newState, now: now, report: &report)
                if !budgetPlan.files.contains(where: { $0.rotation != nil }) { break }
            }
        }
        let finalState = newState
        do {
            try await BlockingPool.run { () throws -> Void in try stateFile.save(finalState) }
        } catch {
            executor.fail("cannot save \(stateFile.path): \(error)", into: &report)
        }
    }
}
