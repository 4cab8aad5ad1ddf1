import Foundation
import Synchronization

/// A private Docker engine for tests: Debian's `dockerd` with its own data root, exec root, pidfile and socket in a
/// temporary folder, no networking (`--bridge=none`, no iptables; every container `--network none`), and an image
/// made from busybox-static with `docker import` (nothing is pulled). One engine serves every test of a process:
/// it starts on first use and stops when the process ends (an exit handler sends it SIGTERM by its pid, and a
/// watchdog shell stops it within a second if the process dies any other way, then removes the folder).
public final class DockerEngine: Sendable {
    /// The temporary folder: `data` (dockerd's data root), `exec`, `docker.sock`, `dockerd.log`.
    public let root: String
    public let pid: pid_t
    public let storageDriver: String
    public static let image = DockerCLI.image

    public var socket: String { root + "/docker.sock" }
    public var host: String { "unix://" + socket }
    /// What `docker.containersDirectory` is for this engine (dockerd bind-mounts its data root onto itself, so
    /// files there cannot be hard-linked from outside).
    public var containersDirectory: String { root + "/data/containers" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    private init(root: String, pid: pid_t, storageDriver: String) {
        self.root = root
        self.pid = pid
        self.storageDriver = storageDriver
    }

    // MARK: availability

    /// Why a real engine cannot run here, or nil if it can (root, `dockerd`, `docker` and a static busybox).
    public static let unavailableReason: String? = {
        if getuid() != 0 { return "a private dockerd needs root" }
        for tool in ["dockerd", "docker", "containerd", "runc"] where executable(tool) == nil {
            return "\(tool) is not installed (apt-get install docker.io)"
        }
        guard let busybox = FileManager.default.contents(atPath: "/bin/busybox") else {
            return "/bin/busybox is missing (apt-get install busybox-static)"
        }
        // A dynamically linked busybox names its loader; the image has no libc for it.
        if busybox.prefix(64 * 1024).range(of: Data("ld-linux".utf8)) != nil {
            return "/bin/busybox is dynamically linked (apt-get install busybox-static)"
        }
        return nil
    }()

    public static var isAvailable: Bool { unavailableReason == nil }

    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    // MARK: the shared engine

    private static let starting = Mutex<Task<DockerEngine, any Error>?>(nil)
    private static let daemonPid = Atomic<Int32>(0)
    private static let watchdogs = Mutex<[ChildProcess]>([])

    /// The engine of this test process, started on first use.
    public static func shared() async throws -> DockerEngine {
        let task = starting.withLock { current -> Task<DockerEngine, any Error> in
            if let current { return current }
            let task = Task { try await start() }
            current = task
            return task
        }
        return try await task.value
    }

    private static func start() async throws -> DockerEngine {
        if let reason = unavailableReason { throw Failure(description: reason) }
        var failures: [String] = []
        for driver in ["overlay2", "vfs"] {
            do {
                let engine = try await launch(storageDriver: driver)
                try engine.cli.importBusybox(rootfs: engine.root + "/rootfs")
                return engine
            } catch {
                failures.append("\(driver): \(error)")
            }
        }
        throw Failure(description: "cannot start a private dockerd: " + failures.joined(separator: "; "))
    }

    private static func launch(storageDriver: String) async throws -> DockerEngine {
        // Short: containerd's sockets under the exec root must fit a socket path (108 bytes).
        var template = Array("/tmp/edgelog-dockerd-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp: \(String(cString: strerror(errno)))")
        }
        let root = String(cString: made)
        // The watchdog runs dockerd and outlives this process: when this process is gone (or dockerd ends), it
        // stops dockerd by its pid, unmounts what it left and removes the folder.
        let script = """
            dockerd --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/dockerd.pid" -H "unix://$1/docker.sock" \
              --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
              --exec-opt native.cgroupdriver=cgroupfs --storage-driver "$3" --log-driver json-file \
              >"$1/dockerd.log" 2>&1 &
            d=$!
            echo $d > "$1/dockerd.child"
            while kill -0 "$2" 2>/dev/null && kill -0 $d 2>/dev/null; do sleep 1; done
            kill $d 2>/dev/null
            i=0
            while kill -0 $d 2>/dev/null && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
            kill -9 $d 2>/dev/null
            grep " $1/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m"; done
            rm -rf "$1"
            """
        let watchdog = try ChildProcess(
            "sh", ["-c", script, "edgelog-dockerd-watchdog", root, "\(getpid())", storageDriver], outputDirectory: root)
        // Kept for the life of the process: releasing a ChildProcess kills it, and the watchdog must outlive us.
        watchdogs.withLock { $0.append(watchdog) }
        var pid: pid_t = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if pid == 0, let text = try? String(contentsOfFile: root + "/dockerd.child", encoding: .utf8),
                let value = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                pid = value
                daemonPid.store(value, ordering: .relaxed)
                registerExitHandler()
            }
            if pid != 0 && kill(pid, 0) != 0 {
                let log = (try? String(contentsOfFile: root + "/dockerd.log", encoding: .utf8)) ?? ""
                throw Failure(description: "dockerd exited: \(log.split(separator: "\n").suffix(5).joined(separator: " | "))")
            }
            if pid != 0, access(root + "/docker.sock", F_OK) == 0,
                let version = try? ChildProcess.run("docker", ["version", "--format", "{{.Server.Version}}"], environment: ["DOCKER_HOST": "unix://\(root)/docker.sock"]),
                version.status == 0
            {
                return DockerEngine(root: root, pid: pid, storageDriver: storageDriver)
            }
            if ContinuousClock.now > deadline {
                if pid != 0 { kill(pid, SIGTERM) }
                throw Failure(description: "dockerd did not answer within 60 s (see \(root)/dockerd.log)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private static let exitHandler = Mutex(false)

    private static func registerExitHandler() {
        let first = exitHandler.withLock { registered -> Bool in
            defer { registered = true }
            return !registered
        }
        guard first else { return }
        atexit {
            let pid = DockerEngine.daemonPid.load(ordering: .relaxed)
            if pid > 0 { kill(pid, SIGTERM) }
        }
    }

    // MARK: the docker CLI

    /// Runs `docker` against this engine; throws with its error output unless it exits 0.
    @discardableResult
    public func docker(_ arguments: [String]) throws -> String { try cli.run(arguments) }

    /// This engine's `docker` command.
    public var cli: DockerCLI { DockerCLI(host: host) }

    /// Starts a container (detached, `--network none`) running `script` with busybox's `sh -c`, logging with
    /// `logDriver`; returns its id.
    public func run(
        _ script: String, name: String? = nil, logDriver: String = "json-file", logOptions: [String: String] = [:],
        extra: [String] = []
    ) throws -> String {
        var arguments = ["run", "-d", "--network", "none", "--log-driver", logDriver]
        if let name { arguments += ["--name", name] }
        for (key, value) in logOptions.sorted(by: { $0.key < $1.key }) { arguments += ["--log-opt", "\(key)=\(value)"] }
        arguments += extra
        arguments += [Self.image, "sh", "-c", script]
        return try docker(arguments)
    }

    /// Waits for the container to stop; returns its exit code.
    @discardableResult
    public func wait(_ id: String) throws -> Int32 { try cli.wait(id) }

    /// Removes the container (stopping it first).
    public func remove(_ id: String) throws { try docker(["rm", "-f", id]) }

    /// The folder dockerd keeps the container's json-file log and `config.v2.json` in.
    public func directory(of id: String) -> String { containersDirectory + "/" + id }

    public func logPath(of id: String) -> String { directory(of: id) + "/" + id + "-json.log" }
}
