import ArgumentParser
import EdgeLogApp
import EdgeLogCore
import Logging

/// The process's entry: the allocator is set up before any thread exists (an arena limit only holds for threads
/// started after it), then the command line.
@main
enum EdgeLogMain {
    static func main() async {
        MallocArenas.limitUnlessSet()
        await EdgeLogCommand.main()
    }
}

struct EdgeLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgelog",
        abstract: "Collects, rotates and ships container and journal logs on IoT Edge devices.",
        version: EdgeLogVersion.current,
        subcommands: [Run.self, Config.self, Status.self, HealthcheckCommand.self, Rotate.self, DeadLetter.self])
}

/// Options every command that logs shares.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, warning, error (default: RuntimeLogLevel or info)")
    var logLevel: String?

    func bootstrap() throws -> Logger {
        let env = Environment.current()
        let name = logLevel ?? env["RuntimeLogLevel"] ?? "info"
        guard let level = EdgeLogHandler.level(named: name) else {
            throw ValidationError("unknown log level \"\(name)\"; use trace, debug, info, warning or error")
        }
        LoggingSystem.bootstrap { EdgeLogHandler(label: $0, level: level) }
        return Logger(label: "edgelog")
    }

    /// Loads the configuration, or logs every problem and exits 2.
    func loadConfiguration(_ path: String?, logger: Logger) throws -> Configuration {
        do {
            return try ConfigurationLoader.load(path: path)
        } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run until SIGTERM/SIGINT, or with --once read everything there is, deliver it and exit.")

    @Option(help: "The configuration file (JSON). Without it, the built-in defaults.")
    var config: String?

    @Flag(help: "Read every source to its current end, deliver everything, commit and exit (1 if anything is left).")
    var once = false

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = try log.bootstrap()
        var configuration: Configuration
        var fileProblems: [Diagnostic] = []
        if once {
            configuration = try log.loadConfiguration(config, logger: logger)
        } else {
            // A service never ends for its configuration: an invalid file runs the last good configuration.
            do {
                (configuration, fileProblems) = try ConfigurationLoader.loadForRun(path: config)
            } catch {
                logger.error("\(error)")
                throw ExitCode(2)
            }
            if !fileProblems.isEmpty {
                logger.error(
                    "\(config ?? "the configuration") is not valid (\(fileProblems.map(\.description).joined(separator: "; "))); running the last configuration that ran well, saved in \(configuration.stateDirectory)"
                )
            }
        }
        let app = Application(configuration: configuration, environment: Environment.current(), logger: logger)
        do {
            if once {
                if !(try await app.runOnce()) { throw ExitCode(1) }
            } else {
                try await app.runUntilSignalled(fileProblems: fileProblems)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.critical("stopped: \(error)")
            throw ExitCode(1)
        }
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration or print the defaults.", subcommands: [Validate.self, Defaults.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exit 0 if FILE is valid, else 1 with every problem listed.")

        @Argument(help: "The configuration file (JSON).")
        var file: String

        func run() throws {
            do {
                _ = try ConfigurationLoader.load(path: file)
                print("\(file): valid")
            } catch let invalid as ConfigurationLoader.Invalid {
                print(invalid.description)
                throw ExitCode(1)
            }
        }
    }

    struct Defaults: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the full default configuration document.")

        func run() {
            print(Configuration().json.serialized(pretty: true))
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Checkpoints per source, spool depth, dead letters and drops so far, from the state directory.")

    @Option(help: "The configuration file (JSON). Without it, the built-in defaults.")
    var config: String?

    func run() throws {
        let configuration = try ConfigurationLoader.load(path: config)
        print(try StatusReport.make(configuration: configuration).serialized(pretty: true))
    }
}

struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 if the running EdgeLog's /healthz answers 200, else 1 with the reason on stderr.",
        discussion: """
            Asks /healthz where the running process listens (its state directory says; the module twin may have \
            moved it), else where the configuration says. With metrics disabled, checks that the state directory \
            can be read, as `edgelog status` does.
            """)

    @Option(help: "The configuration file (JSON). Without it, the built-in defaults.")
    var config: String?

    func run() throws {
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            printToStandardError("\(error)")
            throw ExitCode(1)
        }
        let (healthy, message) = Healthcheck.run(configuration: configuration)
        if healthy {
            print(message)
        } else {
            printToStandardError(message)
            throw ExitCode(1)
        }
    }
}

/// One line on standard error.
func printToStandardError(_ text: String) {
    try? FileSystem.writeAll(fd: 2, Array((text + "\n").utf8), path: "stderr")
}
