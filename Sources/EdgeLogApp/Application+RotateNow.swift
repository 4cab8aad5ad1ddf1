import EdgeLogCore
import EdgeLogRotation

#if canImport(Glibc)
import Glibc
#endif

extension Application {
    /// The `rotateNow` direct method: a forced rotation pass now. With `paths`, only those files, and each must
    /// be one the configuration already manages (a caller cannot make EdgeLog rotate anything else).
    static func rotateNow(_ paths: [String], rotation: RotationService) async throws -> JSONValue {
        var configuration = rotation.configuration
        if !paths.isEmpty {
            let patterns = managedPatterns(configuration)
            let unmanaged = paths.filter { path in !patterns.contains { fnmatch($0, path, FNM_PATHNAME) == 0 } }
            guard unmanaged.isEmpty else {
                throw RotateNowRefused(
                    description: "not managed by the rotation section: \(unmanaged.joined(separator: ", ")); "
                        + "rotation.paths and rotation.policies say which files may be rotated")
            }
            var settings = configuration.rotation
            settings.policy.paths = paths
            settings.policies = []
            configuration.rotation = settings
        }
        let forced = RotationService(
            configuration: configuration, coordinator: rotation.coordinator, counters: rotation.counters,
            logger: rotation.logger)
        let report = await forced.runOnce(force: true)
        return .object([
            ("rotations", .int(Int64(report.rotations))), ("filesDeleted", .int(Int64(report.filesDeleted))),
            ("bytesCompressed", .int(report.bytesCompressed)), ("bytesFreed", .int(report.bytesFreed)),
            ("actions", .array(report.actions.suffix(50).map(JSONValue.string))),
            ("errors", .array(report.errors.map(JSONValue.string))),
        ])
    }

    /// The glob patterns of every file the rotation section manages.
    static func managedPatterns(_ configuration: Configuration) -> [String] {
        configuration.rotation.effectivePolicies(containersDirectory: configuration.docker.containersDirectory)
            .flatMap(\.paths)
    }
}

struct RotateNowRefused: Error, CustomStringConvertible {
    let description: String
}
