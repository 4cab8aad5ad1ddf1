import EdgeLogCore

/// Desired properties: `file document ⊕ desired` validated as a whole and applied live through the supervisor.
extension TwinService {
    /// Validates `file document ⊕ desired` as a whole and applies it live (once everything it needs is built);
    /// returns the reported patch.
    func apply(desired: JSONValue, version: Int64) async -> JSONValue {
        let document = baseDocument.merging(patch: desired)
        let (configuration, problems) = Configuration.parse(document)
        var errors = problems
        if errors.isEmpty {
            errors = await supervisor.apply(configuration, origin: .desired(version: version))
        } else {
            supervisor.discardPending()
        }
        supervisor.twinAnswered()
        return handled(version: version, errors: errors)
    }

    /// Records how `version` was handled and returns the reported patch.
    func handled(version: Int64, errors: [Diagnostic]) -> JSONValue {
        stats.withLock { $0.lastHandled = (version, errors) }
        if errors.isEmpty {
            logger.info("module twin: desired properties version \(version) applied")
        } else {
            logger.warning(
                "module twin: desired properties version \(version) rejected; the previous configuration stays: \(errors.map(\.description).joined(separator: "; "))")
        }
        return configPatch()
    }
}
