import ArgumentParser
import EdgeLogApp
import EdgeLogCore
import EdgeLogRotation

/// `edgelog rotate --config FILE [--dry-run] [--force]`: one rotation pass over the configured files.
struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One rotation pass over the files of the rotation section.",
        discussion: """
            Rotates what is due (maxSize, schedule), applies retention (rotate, maxAgeDays, maxTotalBytes) and \
            compresses, as the running service does every rotation.checkIntervalSeconds; it runs whatever \
            rotation.enabled says. Exit status: 0 done, 1 some action failed, 2 the configuration is invalid.
            """)

    @Option(help: "The configuration file (JSON).")
    var config: String

    @Flag(name: .customLong("dry-run"), help: "Print each action it would take, and change nothing.")
    var dryRun = false

    @Flag(help: "Rotate every file regardless of triggers (empty ones stay as they are with notIfEmpty).")
    var force = false

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap()
        let configuration = try log.loadConfiguration(config, logger: logger)
        var service = RotationService(configuration: configuration, logger: logger)
        if dryRun {
            // Like logrotate -d: every decision and action on standard output, nothing changed.
            let report = await service.runOnce(force: force, dryRun: true)
            print(Self.render(report))
            if !report.succeeded { throw ExitCode(1) }
            return
        }
        // On a terminal: bytes copied and compressed of what the plan holds, rate, ETA, the file at hand.
        let progress = RotationProgress()
        service.progress = progress
        let display = ProgressReporter { seconds in
            let s = progress.snapshot
            return ProgressLine.format(done: s.done, total: s.total, seconds: seconds, detail: s.current)
        }
        let report = await service.runOnce(force: force, dryRun: false)
        await display.finish()
        if !report.succeeded { throw ExitCode(1) }
    }

    /// The dry-run listing, in order: each file's decision followed by the actions it would take.
    static func render(_ report: RotationReport) -> String {
        var lines = ["dry run: nothing is changed"]
        for event in report.events {
            switch event {
            case .decision(let s): lines.append(s)
            case .action(let s): lines.append("  " + s)
            case .error(let s): lines.append("error: " + s)
            case .note(let s): lines.append("note: " + s)
            }
        }
        lines.append(report.summary)
        return lines.joined(separator: "\n")
    }
}
