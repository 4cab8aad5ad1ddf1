extension RotationScan {
    /// The files as they would be after `plan`, for a dry run's budget estimate: deleted rotated files gone,
    /// numbered files shifted, each rotated live file's bytes moved to its new rotated file (sizes before
    /// compression, which cannot be known without compressing).
    public func projected(after plan: RotationPlan, now: Int64) -> RotationScan {
        var result = self
        for (i, file) in files.enumerated() {
            guard let filePlan = plan.files.first(where: { $0.file.path == file.path }) else { continue }
            var projected = file
            for step in filePlan.steps {
                switch step {
                case .delete(let name, _, _), .resolveDuplicate(let name, _):
                    projected.rotated.removeAll { $0.fileName == name }
                case .rotate(let r):
                    for shift in r.shifts {
                        if let k = projected.rotated.firstIndex(where: { $0.fileName == shift.from }),
                            let renamed = RotatedName.parse(shift.to, base: file.name)
                        {
                            projected.rotated[k].fileName = shift.to
                            projected.rotated[k].name = renamed
                        }
                    }
                    if !r.discard, let name = RotatedName.parse(r.destination, base: file.name) {
                        projected.rotated.append(RotatedFile(name: name, fileName: r.destination, size: file.size, modified: now))
                    }
                    projected.size = 0
                case .compress(let source, let destination, _):
                    if let k = projected.rotated.firstIndex(where: { $0.fileName == source }),
                        let name = RotatedName.parse(destination, base: file.name)
                    {
                        projected.rotated[k].fileName = destination
                        projected.rotated[k].name = name
                    }
                case .removeTemporary:
                    break
                }
            }
            result.files[i] = projected
        }
        return result
    }
}
