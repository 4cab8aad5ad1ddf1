/// The `records` section: what each record carries.
public struct RecordSettings: Sendable, Equatable {
    /// Columns sent, by name (any order; records keep the table's order). `TimeGenerated` and `Message` are
    /// always sent.
    public var columns = RecordColumn.allCases.map(\.rawValue)
    /// Leave out empty values (`"DeviceId":""` off IoT Edge, `"Unit":""` on container records, `"Extra":{}`).
    public var omitEmpty = true
    /// `short` (Docker's 12 characters, as `docker ps` shows) or `full` (64).
    public var containerId = "short"

    public init() {}

    init(reading r: inout ConfigReader) {
        columns = r.strings("columns", columns)
        let names = RecordColumn.allCases.map(\.rawValue)
        for (i, name) in columns.enumerated() where RecordColumn(rawValue: name) == nil {
            r.report("columns[\(i)]", "\"\(name)\" is not a column", fix: "use some of \(names.joined(separator: ", "))")
        }
        for column in RecordColumn.required where !columns.contains(column.rawValue) {
            r.report("columns", "does not list \(column.rawValue)", fix: "add \"\(column.rawValue)\": every record carries it")
        }
        omitEmpty = r.bool("omitEmpty", omitEmpty)
        containerId = r.choice("containerId", containerId, ["short", "full"])
    }

    public var json: JSONValue {
        .object([
            ("columns", .array(columns.map(JSONValue.string))),
            ("omitEmpty", .bool(omitEmpty)),
            ("containerId", .string(containerId)),
        ])
    }
}
