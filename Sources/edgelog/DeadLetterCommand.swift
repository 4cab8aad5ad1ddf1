import ArgumentParser
import EdgeLogApp
import EdgeLogCore

/// `edgelog deadletter list|retry|purge`: the batches the sink refused for good, under `<stateDirectory>/deadletter`.
struct DeadLetter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletter",
        abstract: "List, retry or purge the batches the sink refused for good.",
        subcommands: [List.self, Retry.self, Purge.self])

    struct Options: ParsableArguments {
        @Option(help: "The configuration file (JSON). Without it, the built-in defaults.")
        var config: String?

        func store() throws -> (DeadLetterStore, Configuration) {
            let configuration = try ConfigurationLoader.load(path: config)
            return (DeadLetterStore(directory: configuration.stateDirectory + "/deadletter"), configuration)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter: sequence, records, bytes, when, why (status and request id).")
        @OptionGroup var options: Options

        func run() throws {
            let (store, _) = try options.store()
            let entries = try store.list()
            for entry in entries {
                let meta = store.metadata(entry)
                var when = "-"
                if let ms = meta?["deadLetteredAtMillis"]?.intValue {
                    var out: [UInt8] = []
                    Timestamp.appendRFC3339(seconds: ms / 1000, nanos: 0, fractionDigits: 0, to: &out)
                    when = String(decoding: out, as: UTF8.self)
                }
                let reason = meta?["reason"]?.stringValue ?? "(no metadata)"
                print("\(entry.sequence)\t\(entry.records) records\t\(entry.bytes) bytes\t\(when)\t\(reason)")
            }
            print(
                "\(entries.count) dead letter(s), \(entries.reduce(0) { $0 + $1.records }) records, \(entries.reduce(0) { $0 + $1.bytes }) bytes in \(store.directory)"
            )
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move dead letters back into the spool; they are delivered before newer batches.",
            discussion: """
                Safe while `edgelog run` runs: a running process takes them the next time its spool is empty; \
                a process started later finds them in the spool. Without SEQUENCE, every dead letter is retried.
                """)
        @OptionGroup var options: Options
        @Argument(help: "Sequences to retry (from `deadletter list`); all if none.")
        var sequences: [UInt64] = []

        func run() throws {
            let (store, configuration) = try options.store()
            let outcomes = try store.retry(
                into: configuration.stateDirectory + "/spool", sequences: sequences.isEmpty ? nil : Set(sequences))
            var records = 0
            for (entry, outcome) in outcomes {
                switch outcome {
                case .requeued: records += entry.records
                case .alreadySpooled:
                    print("\(entry.sequence): still in the spool, delivered from there; left in the dead-letter folder")
                }
            }
            let moved = outcomes.filter { if case .requeued = $0.1 { return true } else { return false } }.count
            print("\(moved) batch(es), \(records) records moved back into the spool")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @OptionGroup var options: Options
        @Flag(help: "Delete every dead letter.")
        var all = false
        @Argument(help: "Sequences to delete (from `deadletter list`).")
        var sequences: [UInt64] = []

        func validate() throws {
            if all == !sequences.isEmpty {
                throw ValidationError("give the sequences to delete, or --all (and not both)")
            }
        }

        func run() throws {
            let (store, _) = try options.store()
            let gone = try store.purge(sequences: all ? nil : Set(sequences))
            print("\(gone.count) dead letter(s), \(gone.reduce(0) { $0 + $1.records }) records deleted")
        }
    }
}
