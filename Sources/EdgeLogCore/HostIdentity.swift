/// The columns that say where a record came from, the same for every record of this process.
public struct HostIdentity: Sendable, Equatable {
    /// `Computer`: the host name.
    public var computer: String
    /// `DeviceId`, from `IOTEDGE_DEVICEID`; empty when absent.
    public var deviceId: String
    /// `IoTHub`, from `IOTEDGE_IOTHUBHOSTNAME`; empty when absent.
    public var iotHub: String

    public init(computer: String, deviceId: String = "", iotHub: String = "") {
        self.computer = computer
        self.deviceId = deviceId
        self.iotHub = iotHub
    }
}
