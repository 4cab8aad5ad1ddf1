/// What a `RecordTemplate` writes: which columns, and whether empty values are left out. Built once from the
/// `records` section.
public struct RecordShape: Sendable, Equatable {
    private var columns: UInt16
    /// Leave out a string column whose value is empty and an `Extra` that is `{}`: Log Analytics stores an
    /// absent column as empty anyway, so the table reads the same.
    public var omitEmpty: Bool
    /// `ContainerId` as Docker's 12-character short id instead of the full 64.
    public var shortContainerId: Bool

    /// Every column, empty ones too, the container id in full: the records as they were before the `records`
    /// section existed.
    public static let everyColumn = RecordShape(columns: RecordColumn.allCases, omitEmpty: false, shortContainerId: false)

    public init(columns: [RecordColumn], omitEmpty: Bool, shortContainerId: Bool) {
        self.columns = (columns + RecordColumn.required).reduce(0) { $0 | $1.bit }
        self.omitEmpty = omitEmpty
        self.shortContainerId = shortContainerId
    }

    /// The shape the `records` section asks for.
    public init(_ settings: RecordSettings) {
        self.init(
            columns: settings.columns.compactMap(RecordColumn.init(rawValue:)), omitEmpty: settings.omitEmpty,
            shortContainerId: settings.containerId == "short")
    }

    public func includes(_ column: RecordColumn) -> Bool { columns & column.bit != 0 }

    /// Whether `column` with `value` is written.
    public func writes(_ column: RecordColumn, _ value: String) -> Bool {
        includes(column) && !(omitEmpty && value.isEmpty)
    }
}
