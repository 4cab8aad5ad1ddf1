import EdgeLogCore
import EdgeLogGzip
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Testing

/// The same files rotated by logrotate (where installed) and by EdgeLog under the same options end up with the
/// same names and the same contents.
// Compares against the real logrotate; scripts/setup.sh installs it.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/logrotate"), "needs /usr/sbin/logrotate"))
struct LogrotateComparisonTests {
    struct Options {
        var rotate = 3
        var compress = true
        var delayCompress = true
        var dateExt = false
        var copyTruncate = true
        var directives: String {
            var lines = ["rotate \(rotate)", "missingok", "notifempty", "daily"]
            if compress { lines.append("compress") }
            if delayCompress { lines.append("delaycompress") }
            if dateExt { lines.append("dateext") }
            if copyTruncate { lines.append("copytruncate") }
            return lines.joined(separator: "\n")
        }
    }

    /// Runs `rounds` forced rotations with both tools, each round writing the same line first.
    func compare(_ options: Options, rounds: Int, seed: [String: String] = [:]) async throws {
        let temp = TemporaryDirectory(prefix: "edgelog-vs-logrotate")
        let mine = normalized(try temp.makeDirectory("edgelog"))
        let theirs = normalized(try temp.makeDirectory("logrotate"))
        for dir in [mine, theirs] {
            for (name, text) in seed {
                let bytes = name.hasSuffix(".gz") ? try Gzip.compress(Array(text.utf8)) : Array(text.utf8)
                try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
            }
        }
        let config = normalized(temp.file("logrotate.conf"))
        try Data("\(theirs)/x.log {\n\(options.directives)\n}\n".utf8).write(to: URL(fileURLWithPath: config))
        #expect(chmod(config, 0o644) == 0)
        var settings = RotationSettings()
        settings.policy.paths = [mine + "/x.log"]
        settings.policy.rotate = Int64(options.rotate)
        settings.policy.compress = options.compress
        settings.policy.delayCompress = options.delayCompress
        settings.policy.dateExt = options.dateExt
        settings.policy.copyTruncate = options.copyTruncate
        settings.policy.maxAgeDays = 0
        let rotator = Rotator(settings: settings, containersDirectory: "/nonexistent", stateDirectory: normalized(temp.file("state")))
        for round in 1...rounds {
            for dir in [mine, theirs] {
                let handle = FileHandle(forWritingAtPath: dir + "/x.log") ?? {
                    _ = FileManager.default.createFile(atPath: dir + "/x.log", contents: nil)
                    return FileHandle(forWritingAtPath: dir + "/x.log")!
                }()
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("round \(round)\n".utf8))
                try handle.close()
            }
            let report = await rotator.pass(force: true)
            #expect(report.errors.isEmpty, "\(report.errors)")
            _ = try ChildProcess.run("/usr/sbin/logrotate", ["-f", "-s", normalized(temp.file("logrotate.state")), config])
            let a = try FileManager.default.contentsOfDirectory(atPath: mine).sorted()
            let b = try FileManager.default.contentsOfDirectory(atPath: theirs).sorted()
            #expect(a == b, "round \(round) with \(options.directives.split(separator: "\n"))")
            for name in a where b.contains(name) {
                #expect(try Fixture.read(mine + "/" + name) == Fixture.read(theirs + "/" + name), "\(name)")
            }
        }
    }

    @Test(arguments: [
        Options(), Options(rotate: 1), Options(rotate: 5, delayCompress: false), Options(rotate: 2, compress: false),
        Options(rotate: 3, copyTruncate: false),
    ])
    func numbered(_ options: Options) async throws {
        try await compare(options, rounds: 6)
    }

    // logrotate names by local time; this comparison holds where local time is UTC (containers, CI).
    @Test(.enabled(if: TimeZone.current.secondsFromGMT() == 0, "logrotate names by local time: needs TZ=UTC"))
    func dateExtRetention() async throws {
        var seed: [String: String] = [:]
        for day in 1...6 { seed["x.log-2020010\(day).gz"] = "day \(day)\n" }
        seed["x.log-20200107"] = "day 7\n"
        try await compare(Options(rotate: 4, dateExt: true), rounds: 1, seed: seed)
    }
}

extension LogrotateComparisonTests.Options: CustomTestStringConvertible {
    var testDescription: String { directives.replacingOccurrences(of: "\n", with: ", ") }
}
