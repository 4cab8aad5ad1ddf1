/// The columns of a record, in the order they are written: the Log Analytics table (`EdgeLogs_CL` in
/// `deploy/azure/edgelog.json`) declares exactly these, with these types.
public enum RecordColumn: String, CaseIterable, Sendable {
    case timeGenerated = "TimeGenerated"
    case computer = "Computer"
    case deviceId = "DeviceId"
    case iotHub = "IoTHub"
    case source = "Source"
    case moduleId = "ModuleId"
    case containerId = "ContainerId"
    case containerImage = "ContainerImage"
    case stream = "Stream"
    case level = "Level"
    case message = "Message"
    case unit = "Unit"
    case extra = "Extra"

    /// The column's type in the table and the data collection rule's stream.
    public var tableType: String {
        switch self {
        case .timeGenerated: return "datetime"
        case .level: return "int"
        case .extra: return "dynamic"
        default: return "string"
        }
    }

    /// Columns every record carries whatever `records.columns` says: the table needs a time, and a record
    /// without its message says nothing.
    public static let required: [RecordColumn] = [.timeGenerated, .message]

    var bit: UInt16 { 1 << UInt16(Self.allCases.firstIndex(of: self)!) }
}
