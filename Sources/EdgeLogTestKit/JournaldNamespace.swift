import Foundation

/// A real `systemd-journald` for tests, in a private mount namespace (`unshare -m`), optionally with a private
/// `dockerd` started in the same namespace with `--log-driver journald`, so container lines reach that journald the
/// way they do on a device. The namespace's `/run/systemd/journal` (journald's sockets) and `/run/log/journal`
/// (its volatile journal files) are bind mounts of folders under `root`, so the test reads the journal files and
/// writes native entries from outside; a tmpfs hides the host's `/var/log/journal` from it. Nothing outside the
/// namespace sees this journald. `stop()` (or the end of the test process) stops both daemons by pid and removes
/// `root`.
public final class JournaldNamespace: Sendable {
    /// The temporary folder: `journal` (journald's files, in a machine-id subfolder), `sock` (its sockets), and for
    /// the engine `data`, `exec`, `docker.sock`.
    public let root: String
    public let withDocker: Bool
    private let shell: ChildProcess
    public static let image = DockerCLI.image

    /// Where `journal.directory` points to read this journald's files.
    public var journalDirectory: String { root + "/journal" }
    /// journald's native protocol socket (what `sd_journal_send` writes to).
    public var nativeSocket: String { root + "/sock/socket" }
    public var dockerHost: String { "unix://" + root + "/docker.sock" }
    /// What `docker.containersDirectory` is for this engine.
    public var containersDirectory: String { root + "/data/containers" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Why a journald in a private namespace cannot run here (root, `unshare`, systemd-journald), or nil.
    public static let unavailableReason: String? = {
        if getuid() != 0 { return "a private mount namespace and journald need root" }
        if DockerEngine.executable("unshare") == nil { return "unshare is not installed (util-linux)" }
        if access(journald, X_OK) != 0 { return "\(journald) is not installed (apt-get install systemd)" }
        return nil
    }()

    /// Why the journald-plus-dockerd setup cannot run here, or nil.
    public static let unavailableWithDockerReason: String? = unavailableReason ?? DockerEngine.unavailableReason

    static let journald = "/lib/systemd/systemd-journald"

    private init(root: String, withDocker: Bool, shell: ChildProcess) {
        self.root = root
        self.withDocker = withDocker
        self.shell = shell
    }

    /// Starts journald (and dockerd with `--log-driver journald`, plus the busybox image, when `withDocker`).
    public static func start(withDocker: Bool) async throws -> JournaldNamespace {
        if let reason = withDocker ? unavailableWithDockerReason : unavailableReason { throw Failure(description: reason) }
        // Short: containerd's sockets under the exec root must fit a socket path (108 bytes).
        var template = Array("/tmp/edgelog-jd-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp: \(String(cString: strerror(errno)))")
        }
        let root = String(cString: made)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/journal", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/sock", withIntermediateDirectories: true)
        // Inside the namespace: private mounts, journald's folders bound to ours, then the daemons; it stops them
        // when asked (`stop` file), when this process is gone, or when journald ends, and removes the folder.
        let script = """
            mount --make-rprivate / || exit 1
            mkdir -p /run/systemd/journal /run/log/journal
            mount --bind "$1/sock" /run/systemd/journal || exit 1
            mount --bind "$1/journal" /run/log/journal || exit 1
            if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
            \(journald) >"$1/journald.log" 2>&1 &
            j=$!
            i=0
            while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
            d=""
            if [ "$3" = docker ]; then
              dockerd --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/dockerd.pid" -H "unix://$1/docker.sock" \
                --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
                --exec-opt native.cgroupdriver=cgroupfs --storage-driver overlay2 --log-driver journald \
                >"$1/dockerd.log" 2>&1 &
              d=$!
            fi
            echo ready > "$1/ready"
            while kill -0 "$2" 2>/dev/null && kill -0 $j 2>/dev/null && [ ! -e "$1/stop" ]; do sleep 0.2; done
            if [ -n "$d" ]; then
              kill $d 2>/dev/null
              i=0
              while kill -0 $d 2>/dev/null && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
              kill -9 $d 2>/dev/null
            fi
            kill $j 2>/dev/null
            i=0
            while kill -0 $j 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
            kill -9 $j 2>/dev/null
            grep " $1/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m"; done
            rm -rf "$1"
            """
        let shell = try ChildProcess(
            "unshare", ["-m", "sh", "-c", script, "edgelog-journald-namespace", root, "\(getpid())", withDocker ? "docker" : "none"],
            outputDirectory: "/tmp")
        let namespace = JournaldNamespace(root: root, withDocker: withDocker, shell: shell)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if access(root + "/ready", F_OK) == 0 && access(namespace.nativeSocket, F_OK) == 0 {
                if !withDocker { break }
                if let version = try? ChildProcess.run(
                    "docker", ["version", "--format", "{{.Server.Version}}"], environment: ["DOCKER_HOST": namespace.dockerHost]),
                    version.status == 0
                {
                    break
                }
            }
            if access(root, F_OK) != 0 || ContinuousClock.now > deadline {
                let log = (try? String(contentsOfFile: root + "/journald.log", encoding: .utf8)) ?? ""
                let docker = (try? String(contentsOfFile: root + "/dockerd.log", encoding: .utf8)) ?? ""
                namespace.stop()
                throw Failure(description: "journald/dockerd did not start in a private namespace: \(shell.stderr) \(log) \(docker.suffix(500))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        if withDocker { try namespace.cli.importBusybox(rootfs: root + "/rootfs") }
        return namespace
    }

    /// Stops the daemons and removes `root` (waits for it).
    public func stop() {
        _ = FileManager.default.createFile(atPath: root + "/stop", contents: nil)
        shell.wait()
    }

    // MARK: native entries

    /// Sends one entry over journald's native protocol, as `sd_journal_send` does: `NAME=value` lines, or for a value
    /// with a line break `NAME\n` + its 64-bit little-endian length + the value + `\n`.
    public func send(_ fields: [(String, String)]) throws {
        var datagram: [UInt8] = []
        for (name, value) in fields {
            let bytes = Array(value.utf8)
            if bytes.contains(0x0A) {
                datagram += Array(name.utf8) + [0x0A]
                withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { datagram += $0 }
                datagram += bytes + [0x0A]
            } else {
                datagram += Array(name.utf8) + [0x3D] + bytes + [0x0A]
            }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(nativeSocket.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(description: "socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let sent = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        guard sent == datagram.count else { throw Failure(description: "sendto: \(String(cString: strerror(errno)))") }
    }

    // MARK: the docker CLI

    /// Runs `docker` against this namespace's engine.
    @discardableResult
    public func docker(_ arguments: [String]) throws -> String { try cli.run(arguments) }

    public var cli: DockerCLI { DockerCLI(host: dockerHost) }

    /// Starts a container (detached, `--network none`, the engine's default driver: journald) running `script`.
    public func run(_ script: String, name: String? = nil, extra: [String] = []) throws -> String {
        var arguments = ["run", "-d", "--network", "none"]
        if let name { arguments += ["--name", name] }
        arguments += extra + [Self.image, "sh", "-c", script]
        return try docker(arguments)
    }

    @discardableResult
    public func wait(_ id: String) throws -> Int32 { try cli.wait(id) }
}
