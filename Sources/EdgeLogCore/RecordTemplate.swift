/// Encodes records as flat JSON objects with the table's columns, in this order:
/// `TimeGenerated, Computer, DeviceId, IoTHub, Source, ModuleId, ContainerId, ContainerImage,
/// Stream, Level, Message, Unit, Extra` — all of them, or those a `RecordShape` selects (empty values left out).
///
/// The columns that stay the same for one container (or one journal unit) are encoded once into the
/// template, so the hot path only writes the time, level, message and extra.
public struct RecordTemplate: Sendable {
    private let head: [UInt8]  // `,"Computer":"…",…,"ContainerImage":"…"`: the constant columns written
    private let writesStream: Bool
    private let writesLevel: Bool
    private let unit: [UInt8]  // `,"Unit":"…"` or nothing
    private let writesExtra: Bool
    private let omitsEmptyExtra: Bool
    private let defaultExtra: [UInt8]  // `{…}`

    /// - Parameter shape: the columns written; `.everyColumn` (the default) writes all of them, empty ones too.
    public init(
        host: HostIdentity, source: String, moduleId: String, containerId: String = "", containerImage: String = "",
        unit: String = "", extra: JSONValue = .object([]), shape: RecordShape = .everyColumn
    ) {
        let id = shape.shortContainerId ? String(containerId.prefix(12)) : containerId
        var h: [UInt8] = []
        let constants: [(RecordColumn, String)] = [
            (.computer, host.computer), (.deviceId, host.deviceId), (.iotHub, host.iotHub), (.source, source),
            (.moduleId, moduleId), (.containerId, id), (.containerImage, containerImage),
        ]
        for (column, value) in constants where shape.writes(column, value) {
            h.append(contentsOf: ",\"\(column.rawValue)\":".utf8)
            JSONWriter.appendQuoted(value, to: &h)
        }
        head = h
        writesStream = shape.includes(.stream)
        writesLevel = shape.includes(.level)
        var u: [UInt8] = []
        if shape.writes(.unit, unit) {
            u.append(contentsOf: ",\"Unit\":".utf8)
            JSONWriter.appendQuoted(unit, to: &u)
        }
        self.unit = u
        writesExtra = shape.includes(.extra)
        omitsEmptyExtra = shape.omitEmpty
        var e: [UInt8] = []
        extra.write(to: &e)
        defaultExtra = e
    }

    /// What `encode` did beyond writing the record.
    public struct Outcome: Sendable {
        /// Invalid UTF-8 sequences replaced with U+FFFD in the message.
        public var replacements = 0
        /// The message was shortened to fit `maxBytes`.
        public var truncated = false
        public init() {}
    }

    /// Appends one record to `out`, at most `maxBytes` long: a message that would make it longer is cut
    /// (at a UTF-8 boundary) so the record still fits, never dropped.
    ///
    /// - Parameters:
    ///   - time: RFC 3339 UTC text, written as given.
    ///   - stream: `stdout`, `stderr` or `journal`.
    ///   - extra: a JSON object's text to use instead of the template's, or nil.
    @inlinable
    public func encode(
        time: UnsafeBufferPointer<UInt8>, stream: StaticString, level: Int, message: UnsafeBufferPointer<UInt8>,
        extra: UnsafeBufferPointer<UInt8>? = nil, maxBytes: Int, to out: inout [UInt8]
    ) -> Outcome {
        let start = out.count
        var outcome = Outcome()
        var messageLength = message.count
        while true {
            out.append(contentsOf: "{\"TimeGenerated\":\"".utf8)
            out.append(contentsOf: time)
            out.append(0x22)
            appendHead(stream: stream, level: level, to: &out)
            let cut = UnsafeBufferPointer(rebasing: message[0..<messageLength])
            outcome.replacements = JSONWriter.appendEscaped(cut, to: &out)
            appendTail(extra: extra, to: &out)
            let length = out.count - start
            if length <= maxBytes || messageLength == 0 { return outcome }
            // Too long: cut the message by the excess (escaping can only make the output longer than the input,
            // so this converges quickly) and encode again.
            out.removeSubrange(start...)
            outcome.truncated = true
            let excess = length - maxBytes
            messageLength = JSONWriter.utf8SafePrefixLength(message, limit: max(0, messageLength - excess - 16))
        }
    }

    /// The constant columns, `Stream` and `Level`, and the `Message` key up to its opening quote.
    @usableFromInline
    func appendHead(stream: StaticString, level: Int, to out: inout [UInt8]) {
        out.append(contentsOf: head)
        if writesStream {
            out.append(contentsOf: ",\"Stream\":\"".utf8)
            stream.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(0x22)
        }
        if writesLevel {
            out.append(contentsOf: ",\"Level\":".utf8)
            out.append(UInt8(truncatingIfNeeded: 0x30 + max(0, min(7, level))))
        }
        out.append(contentsOf: ",\"Message\":\"".utf8)
    }

    /// The closing quote of `Message`, `Unit`, `Extra` and the closing brace.
    @usableFromInline
    func appendTail(extra: UnsafeBufferPointer<UInt8>?, to out: inout [UInt8]) {
        out.append(0x22)
        out.append(contentsOf: unit)
        if writesExtra {
            if let extra {
                if !(omitsEmptyExtra && Self.isEmptyObject(extra)) {
                    out.append(contentsOf: ",\"Extra\":".utf8)
                    out.append(contentsOf: extra)
                }
            } else if !(omitsEmptyExtra && defaultExtra.count == 2) {
                out.append(contentsOf: ",\"Extra\":".utf8)
                out.append(contentsOf: defaultExtra)
            }
        }
        out.append(0x7D)
    }

    private static func isEmptyObject(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count == 2 && bytes[0] == 0x7B && bytes[1] == 0x7D
    }
}
