import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// The process environment, read once.
public enum Environment {
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return result
    }

    /// `Computer`, `DeviceId`, `IoTHub` for every record.
    public static func host(_ env: [String: String]) -> HostIdentity {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let computer = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return HostIdentity(
            computer: computer, deviceId: env["IOTEDGE_DEVICEID"] ?? "", iotHub: env["IOTEDGE_IOTHUBHOSTNAME"] ?? "")
    }
}
