/// Encodes records as flat JSON objects with exactly the table's columns, in this order:
/// `TimeGenerated, Computer, DeviceId, IoTHub, Source, ModuleId, ContainerId, ContainerImage,
/// Stream, Level, Message, Unit, Extra`.
///
/// The columns that stay the same for one container (or one journal unit) are encoded once into the
/// template, so the hot path only writes the time, level, message and extra.
public struct RecordTemplate: Sendable {
    private let head: [UInt8]  // `,"Computer":…,"ContainerImage":"…","Stream":"`
    private let unit: [UInt8]  // `,"Unit":"…","Extra":`
    private let defaultExtra: [UInt8]  // `{…}`

    public init(
        host: HostIdentity, source: String, moduleId: String, containerId: String = "", containerImage: String = "",
        unit: String = "", extra: JSONValue = .object([])
    ) {
        var h: [UInt8] = []
        for (key, value) in [
            ("Computer", host.computer), ("DeviceId", host.deviceId), ("IoTHub", host.iotHub), ("Source", source),
            ("ModuleId", moduleId), ("ContainerId", containerId), ("ContainerImage", containerImage),
        ] {
            h.append(contentsOf: ",\"\(key)\":".utf8)
            JSONWriter.appendQuoted(value, to: &h)
        }
        h.append(contentsOf: ",\"Stream\":\"".utf8)
        head = h
        var u: [UInt8] = Array("\",\"Unit\":".utf8)
        JSONWriter.appendQuoted(unit, to: &u)
        u.append(contentsOf: ",\"Extra\":".utf8)
        self.unit = u
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
            appendHead(to: &out)
            stream.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: "\",\"Level\":".utf8)
            out.append(UInt8(truncatingIfNeeded: 0x30 + max(0, min(7, level))))
            out.append(contentsOf: ",\"Message\":\"".utf8)
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

    @usableFromInline
    func appendHead(to out: inout [UInt8]) { out.append(contentsOf: head) }

    @usableFromInline
    func appendTail(extra: UnsafeBufferPointer<UInt8>?, to out: inout [UInt8]) {
        out.append(contentsOf: unit)
        if let extra { out.append(contentsOf: extra) } else { out.append(contentsOf: defaultExtra) }
        out.append(0x7D)
    }
}
