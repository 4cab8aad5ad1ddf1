import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// The logging driver of one container, from `hostconfig.json`'s `LogConfig.Type` in its folder (dockerd writes
/// its default there when the container did not choose one). Decides where its lines are read from.
public enum LogDriver: Equatable, Sendable, CustomStringConvertible {
    /// `<id>-json.log` and its rotated files.
    case jsonFile
    /// `local-logs/container.log` and its rotated files: length-framed protobuf entries.
    case local
    /// The systemd journal: not read from files.
    case journald
    /// A driver whose lines never reach a file EdgeLog can read (`none`, `syslog`, `fluentd`, …).
    case other(String)

    public var description: String {
        switch self {
        case .jsonFile: "json-file"
        case .local: "local"
        case .journald: "journald"
        case .other(let name): name
        }
    }

    /// True for the drivers whose files the Docker source reads.
    public var readsFiles: Bool { self == .jsonFile || self == .local }

    /// Largest `hostconfig.json` read (dockerd's are a few KiB).
    static let maxHostConfigBytes = 1 << 20
    /// Longest driver name kept (a longer one is shown cut).
    static let maxNameBytes = 64

    /// Why the driver could not be read from `hostconfig.json`, when that happened.
    public enum Origin: Equatable, Sendable {
        /// Read from `hostconfig.json`.
        case hostConfig
        /// `hostconfig.json` is missing: chosen from the log files present.
        case missing
        /// `hostconfig.json` cannot be used (the reason): chosen from the log files present.
        case damaged(String)
    }

    /// The driver of the container in `directory` (id `id`), or nil while that cannot be told yet: no usable
    /// `hostconfig.json` and no log file of either kind (dockerd writes the file just after `config.v2.json`).
    /// Without a usable `hostconfig.json`, a `-json.log` means json-file and a `local-logs` folder means local.
    public static func detect(directory: String, id: String) -> (driver: LogDriver, origin: Origin)? {
        let origin: Origin
        switch read(directory + "/hostconfig.json") {
        case .driver(let driver): return (driver, .hostConfig)
        case .missing: origin = .missing
        case .damaged(let reason): origin = .damaged(reason)
        }
        if exists(directory + "/" + id + "-json.log") { return (.jsonFile, origin) }
        if exists(directory + "/local-logs") { return (.local, origin) }
        return nil
    }

    enum HostConfig {
        case driver(LogDriver)
        case missing
        case damaged(String)
    }

    /// `LogConfig.Type` of a `hostconfig.json` (range-checked: a regular file of at most 1 MiB, a JSON object).
    static func read(_ path: String) -> HostConfig {
        let st: stat?
        do { st = try FileSystem.status(path) } catch { return .damaged("\(error)") }
        guard let st else { return .missing }
        guard st.st_mode & S_IFMT == S_IFREG else { return .damaged("not a regular file") }
        guard st.st_size <= maxHostConfigBytes else { return .damaged("larger than \(maxHostConfigBytes) bytes") }
        let bytes: [UInt8]
        do {
            guard let read = try FileSystem.readState(path, maxBytes: maxHostConfigBytes) else { return .missing }
            bytes = read
        } catch {
            return .damaged("\(error)")
        }
        let doc: JSONValue
        do { doc = try JSONParser.parse(bytes) } catch { return .damaged("not JSON: \(error)") }
        guard doc.objectValue != nil else { return .damaged("not a JSON object") }
        guard let type = doc["LogConfig"]?["Type"]?.stringValue else { return .damaged("no LogConfig.Type") }
        return .driver(named(type))
    }

    /// The driver called `name` (dockerd's spelling; empty is dockerd's own default, json-file).
    public static func named(_ name: String) -> LogDriver {
        switch name {
        case "", "json-file": return .jsonFile
        case "local": return .local
        case "journald": return .journald
        default:
            var kept = String(decoding: name.utf8.prefix(maxNameBytes), as: UTF8.self)
            if kept.utf8.count < name.utf8.count { kept += "…" }
            return .other(kept)
        }
    }

    /// Where the driver's files are: their folder and the live file's name (json-file's for the others).
    func chain(directory: String, id: String) -> (directory: String, base: String) {
        self == .local ? (directory + "/local-logs", "container.log") : (directory, id + "-json.log")
    }

    private static func exists(_ path: String) -> Bool {
        (try? FileSystem.status(path)) != nil
    }
}

/// A container whose lines the Docker source does not read from files, for `edgelog status`.
public struct UnreadContainer: Equatable, Sendable {
    public var id: String
    public var name: String
    public var driver: LogDriver

    /// Whether EdgeLog collects this container's lines some other way than from files, as `status` and the twin
    /// say it: "through the journal" for the journald driver unless `docker.journal` is false, else "no".
    public func collected(_ docker: DockerSettings) -> String {
        driver == .journald && docker.journal != .false ? "through the journal" : "no"
    }

    /// The containers under `containersDirectory` whose driver is neither json-file nor local.
    public static func list(containersDirectory: String) -> [UnreadContainer] {
        guard let ids = try? FileSystem.list(containersDirectory) else { return [] }
        var result: [UnreadContainer] = []
        for id in ids.sorted() {
            let directory = containersDirectory + "/" + id
            guard let found = LogDriver.detect(directory: directory, id: id), !found.driver.readsFiles else { continue }
            let name = (try? ContainerMetadata.load(directory + "/config.v2.json").get())?.name ?? String(id.prefix(12))
            result.append(UnreadContainer(id: id, name: name, driver: found.driver))
        }
        return result
    }
}
