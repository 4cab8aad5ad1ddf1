import Foundation

/// A child process started with posix_spawn, its output redirected to files. Foundation's `Process` is not used:
/// on Linux it closes file handles from a monitoring thread, which races with descriptors other tests open.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let stdoutPath: String
    public let stderrPath: String
    private var exitStatus: (code: Int32, signal: Int32)?

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    /// `stdin`: a file to read standard input from (else /dev/null).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
        outputDirectory: String = NSTemporaryDirectory()
    ) throws {
        let tag = "\(UInt64.random(in: 0...UInt64.max))"
        stdoutPath = outputDirectory + "/child-\(tag).out"
        stderrPath = outputDirectory + "/child-\(tag).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Tests open files (and flock them) in parallel; a child must not keep any of them open.
        // glibc 2.34+ has addclosefrom_np, which Swift's Glibc module does not show: look it up.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child = pid_t()
        let rc = posix_spawnp(&child, executable, &actions, nil, argv, envp)
        guard rc == 0 else { throw Failure(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        pid = child
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
        unlink(stdoutPath)
        unlink(stderrPath)
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child to end; returns its exit code (or 128 + signal).
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus.signal != 0 ? 128 + exitStatus.signal : exitStatus.code }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signalled = status & 0x7F
        exitStatus = signalled != 0 ? (0, signalled) : ((status >> 8) & 0xFF, 0)
        return signalled != 0 ? 128 + signalled : (status >> 8) & 0xFF
    }

    /// The signal that ended the child, if one did.
    public var terminatingSignal: Int32? {
        guard let exitStatus, exitStatus.signal != 0 else { return nil }
        return exitStatus.signal
    }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Runs to the end: exit code, standard output and standard error.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments, environment: environment, stdin: stdin)
        let status = child.wait()
        return (status, child.stdout, child.stderr)
    }
}
