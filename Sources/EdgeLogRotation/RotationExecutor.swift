import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Carries out a plan with real system calls, one file at a time; the first failing step ends that file's steps
/// for this pass (reported, counted) and the next file proceeds. Blocking calls run on Core's `BlockingPool`.
public struct RotationExecutor: Sendable {
    public let ops: any FileOperations
    public let coordinator: any TruncationCoordinator
    public let counters: Counters
    public let onEvent: (@Sendable (RotationEvent) -> Void)?
    /// Told of the bytes copied and compressed, for a progress display.
    public let progress: RotationProgress?

    public init(
        ops: any FileOperations, coordinator: any TruncationCoordinator, counters: Counters,
        onEvent: (@Sendable (RotationEvent) -> Void)? = nil, progress: RotationProgress? = nil
    ) {
        self.ops = ops
        self.coordinator = coordinator
        self.counters = counters
        self.onEvent = onEvent
        self.progress = progress
    }

    /// Executes `plan`. Each successful rotation records `now` in `state`.
    public func execute(_ plan: RotationPlan, state: inout RotationState, now: Int64, report: inout RotationReport) async {
        for filePlan in plan.files {
            if Task.isCancelled && !filePlan.steps.isEmpty {
                emit(.note("stopping early (shutting down); the rest waits for the next pass"), into: &report)
                return
            }
            emit(.decision("\(filePlan.file.path): \(filePlan.decision)"), into: &report)
            guard !filePlan.steps.isEmpty else { continue }
            progress?.working(on: filePlan.file.path)
            let file = filePlan.file
            let ops = self.ops
            let folder: Int32
            do {
                folder = try await BlockingPool.run { () throws(RotationRefusal) -> Int32 in
                    try RootGuard.openFolder(root: file.root, folders: file.components, using: ops)
                }
            } catch {
                fail("\(file.path): \(error)", into: &report)
                continue
            }
            for step in filePlan.steps {
                do {
                    try await perform(step, file: file, folder: folder, state: &state, now: now, report: &report)
                } catch {
                    fail("\(file.path): \(error)", into: &report)
                    break
                }
            }
            ops.close(folder)
        }
    }

    /// Describes `plan` without doing anything (`--dry-run`).
    public func describe(_ plan: RotationPlan, report: inout RotationReport) {
        for filePlan in plan.files {
            emit(.decision("\(filePlan.file.path): \(filePlan.decision)"), into: &report)
            let folder = filePlan.file.directory
            for step in filePlan.steps {
                switch step {
                case .removeTemporary(let name):
                    emit(.action("would remove the leftover temporary \(folder)/\(name)"), into: &report)
                case .resolveDuplicate(let plain, let gz):
                    emit(.action("would remove \(folder)/\(plain) if \(gz) holds it complete"), into: &report)
                case .delete(let name, let bytes, let reason):
                    report.filesDeleted += 1
                    report.bytesFreed += bytes
                    emit(.action("would remove \(folder)/\(name) (\(bytes) bytes, \(reason))"), into: &report)
                case .rotate(let r):
                    report.rotations += 1
                    for shift in r.shifts {
                        emit(.action("would rename \(folder)/\(shift.from) to \(shift.to)"), into: &report)
                    }
                    let how = r.copyTruncate ? "copy \(filePlan.file.path) to \(r.destination) and truncate it" : "rename \(filePlan.file.path) to \(r.destination)"
                    emit(.action("would \(how) (\(r.trigger))"), into: &report)
                    if r.discard { emit(.action("would remove \(folder)/\(r.destination) (rotate 0)"), into: &report) }
                case .compress(let source, let destination, let level):
                    emit(.action("would compress \(folder)/\(source) into \(destination) (gzip level \(level))"), into: &report)
                }
            }
        }
    }

    private func perform(
        _ step: RotationStep, file: ManagedFile, folder: Int32, state: inout RotationState, now: Int64,
        report: inout RotationReport
    ) async throws(RotationRefusal) {
        let ops = self.ops
        let dir = file.directory
        switch step {
        case .removeTemporary(let name):
            try await BlockingPool.run { () throws(RotationRefusal) in
                do throws(SystemError) { try ops.remove(in: folder, name) } catch where !error.isNotFound {
                    throw RotationRefusal("cannot remove the leftover temporary \(name): \(error)", error: error)
                } catch {}
            }
            emit(.action("removed the leftover temporary \(dir)/\(name)"), into: &report)

        case .resolveDuplicate(let plain, let gz):
            let freed = try await BlockingPool.run { () throws(RotationRefusal) -> Int64 in
                try Self.resolveDuplicate(plain: plain, gz: gz, folder: folder, ops: ops)
            }
            record(deleted: freed, into: &report)
            emit(.action("removed \(dir)/\(plain): \(gz) holds it complete"), into: &report)

        case .delete(let name, _, let reason):
            let freed = try await BlockingPool.run { () throws(RotationRefusal) -> Int64? in
                try Self.delete(name, folder: folder, ops: ops)
            }
            if let freed {
                record(deleted: freed, into: &report)
                emit(.action("removed \(dir)/\(name) (\(freed) bytes, \(reason))"), into: &report)
            }

        case .rotate(let rotation):
            try await rotate(rotation, file: file, folder: folder, report: &report)
            state.lastRotated[file.path] = now
            counters.add(.rotations)
            report.rotations += 1

        case .compress(let source, let destination, let level):
            let progress = self.progress
            let outcome = try await BlockingPool.run { () throws(RotationRefusal) -> GzipFileCompressor.Outcome in
                var compressor = GzipFileCompressor(ops: ops)
                compressor.progress = progress
                return try compressor.compress(in: folder, source: source, destination: destination, level: level)
            }
            counters.add(.rotationBytesCompressed, Int(outcome.input))
            counters.add(.rotationBytesFreed, Int(max(0, outcome.input - outcome.output)))
            report.bytesCompressed += outcome.input
            report.bytesFreed += max(0, outcome.input - outcome.output)
            emit(.action("compressed \(dir)/\(source) into \(destination) (\(outcome.input) → \(outcome.output) bytes)"), into: &report)
        }
    }

    private func rotate(_ r: Rotation, file: ManagedFile, folder: Int32, report: inout RotationReport) async throws(RotationRefusal) {
        let ops = self.ops
        let dir = file.directory
        for shift in r.shifts {
            try await BlockingPool.run { () throws(RotationRefusal) in
                do throws(SystemError) { try ops.rename(in: folder, shift.from, to: shift.to) } catch {
                    throw RotationRefusal("cannot rename \(shift.from) to \(shift.to): \(error)", error: error)
                }
            }
            emit(.action("renamed \(dir)/\(shift.from) to \(shift.to)"), into: &report)
        }
        var rotatedBytes: Int64
        if r.copyTruncate {
            rotatedBytes = try await copyTruncate(r, file: file, folder: folder)
            progress?.advance(min(rotatedBytes, file.size))
            emit(.action("copied \(file.path) to \(r.destination) (\(rotatedBytes) bytes) and truncated it (\(r.trigger))"), into: &report)
        } else {
            rotatedBytes = try await BlockingPool.run { () throws(RotationRefusal) -> Int64 in
                try Self.renameLive(file, to: r.destination, folder: folder, ops: ops)
            }
            emit(.action("renamed \(file.path) to \(r.destination) (\(r.trigger))"), into: &report)
        }
        if r.discard {
            let freed = try await BlockingPool.run { () throws(RotationRefusal) -> Int64? in
                try Self.delete(r.destination, folder: folder, ops: ops)
            }
            record(deleted: freed ?? rotatedBytes, into: &report)
            emit(.action("removed \(dir)/\(r.destination) (rotate 0)"), into: &report)
        }
    }

    /// The coordinated copy-truncate: bulk copy, tailer drains, catch up and truncate, tailer takes the rest
    /// from the copy, and only then may the copy be compressed. Returns the bytes moved to the copy.
    private func copyTruncate(_ r: Rotation, file: ManagedFile, folder: Int32) async throws(RotationRefusal) -> Int64 {
        let ops = self.ops
        let started: CopyTruncate
        do {
            started = try await BlockingPool.run { () throws(RotationRefusal) -> CopyTruncate in
                var session = CopyTruncate(ops: ops, folder: folder, name: file.name, destination: r.destination)
                try session.begin(expecting: file.device, file.inode)
                return session
            }
        } catch {
            if error.error?.errno == EMLINK { counters.add(.rotationHardLinkRefusals) }
            throw error
        }
        let following = await coordinator.prepareTruncation(path: file.path)
        let finished = await BlockingPool.run { () -> Result<Int64, RotationRefusal> in
            var session = started
            do throws(RotationRefusal) {
                return .success(try session.finish())
            } catch {
                return .failure(error)
            }
        }
        switch finished {
        case .success(let end):
            if following {
                await coordinator.finishTruncation(path: file.path, truncatedAt: end, rotatedCopy: file.directory + "/" + r.destination)
            }
            return end
        case .failure(let refusal):
            // Not truncated: the tailer resumes where it was.
            if following { await coordinator.cancelTruncation(path: file.path) }
            throw refusal
        }
    }

    // MARK: - Reporting

    private func record(deleted bytes: Int64, into report: inout RotationReport) {
        counters.add(.rotationFilesDeleted)
        counters.add(.rotationBytesFreed, Int(bytes))
        report.filesDeleted += 1
        report.bytesFreed += bytes
    }

    func fail(_ message: String, into report: inout RotationReport) {
        counters.add(.rotationErrors)
        emit(.error(message), into: &report)
    }

    func emit(_ event: RotationEvent, into report: inout RotationReport) {
        switch event {
        case .action(let s): report.actions.append(s)
        case .decision(let s): report.decisions.append(s)
        case .error(let s): report.errors.append(s)
        case .note(let s): report.notes.append(s)
        }
        report.events.append(event)
        onEvent?(event)
    }
}
