import Foundation

/// The `docker` command against one test engine (its `DOCKER_HOST`), shared by `DockerEngine` and
/// `JournaldNamespace`: running it, waiting for a container, and the busybox image both use.
public struct DockerCLI: Sendable {
    /// The image every test container runs: busybox-static imported with `docker import` (nothing is pulled).
    public static let image = "edgelog-fixture:busybox"

    /// `unix://…` of the engine's socket.
    public let host: String

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public init(host: String) { self.host = host }

    /// Runs `docker` against this engine; throws with its error output unless it exits 0.
    @discardableResult
    public func run(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run("docker", arguments, environment: ["DOCKER_HOST": host])
        guard result.status == 0 else {
            throw Failure(description: "docker \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits for the container to stop; returns its exit code.
    @discardableResult
    public func wait(_ id: String) throws -> Int32 {
        Int32(try run(["wait", id])) ?? -1
    }

    /// Imports busybox-static as `/bin/busybox`, with the applets the tests' scripts use linked, as `image`;
    /// `rootfs` is a scratch folder to build it in.
    public func importBusybox(rootfs: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: rootfs + "/tmp", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "echo", "printf", "seq", "sleep", "cat", "yes", "dd", "awk", "head", "tr", "true", "kill", "touch", "rm", "ls", "date"] {
            try fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        let result = try ChildProcess.run(
            "sh", ["-c", "tar -C \"$1\" -c . | docker import - \"$2\"", "import", rootfs, Self.image],
            environment: ["DOCKER_HOST": host])
        guard result.status == 0 else { throw Failure(description: "docker import failed: \(result.stderr)") }
    }
}
