import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns one journal entry into one record: takes the entry's `NAME=value` fields as sd-journal enumerates
/// them (copying only the fields it needs), then encodes
/// `TimeGenerated` (`__REALTIME_TIMESTAMP`), `ModuleId` (`SYSLOG_IDENTIFIER`, else `_COMM`), `Unit`
/// (`_SYSTEMD_UNIT`), `Level` (`PRIORITY`, default 6), `Message` (`MESSAGE`) and `Extra` (the selected fields,
/// plus `binary`, `truncated` and `omitted` lists naming fields that were not plain text, were cut at
/// `maxFieldBytes`, or did not fit in the record).
///
/// A value type held by the journal reader's thread only (a local variable while reading, so the hot path has no
/// dynamic exclusivity checks).
struct JournalEntryMapper {
    /// What the mapper did, added to the counters after each chunk.
    struct Tally {
        var records = 0, bytes = 0, messagesTruncated = 0, fieldsTruncated = 0, replaced = 0
    }

    private struct Field {
        var name: Range<Int>
        var value: Range<Int>
        var order: Int
        var truncated: Bool
    }

    private var selector: JournalFieldSelector
    private let host: HostIdentity
    private let maxFieldBytes: Int
    private let maxRecordBytes: Int
    /// The columns written (the `records` section): by default empty values are left out, so a journal record
    /// carries no `ContainerId`/`ContainerImage`, no `Unit` when the entry has none and no `Extra` when no field
    /// was selected.
    private let shape: RecordShape
    /// The `filters` and `redaction` sections (the reader's; it holds the rate limits' buckets).
    let filter: RecordFilter
    private let filterPassThrough: Bool
    var tally = Tally()

    // The current entry: names and values copied into `store`.
    private var store: [UInt8] = []
    private var message: Field?
    private var priority: Int?
    private var identifier: Range<Int>?
    private var comm: Range<Int>?
    private var unit: Range<Int>?
    private var extras: [Field] = []
    // Docker's journald driver fields (read only when container entries are collected).
    private let containersOn: Bool
    private var containerFields: [Range<Int>?] = Array(repeating: nil, count: ContainerField.allCases.count)
    /// The longest MESSAGE captured: `maxFieldBytes`, or room for a split piece when container entries are read.
    private let messageLimit: Int
    /// Host entries' units and identifiers, matched here when sd-journal matches cannot be used (see `hostSelected`).
    private let hostUnits: [[UInt8]]
    private let hostIdentifiers: [[UInt8]]

    /// The fields Docker's journald driver writes that make a container record.
    enum ContainerField: Int, CaseIterable {
        case idFull, name, image, partialId, partialLast, partialMessage
    }

    private var templates: [UInt64: [(identifier: [UInt8], unit: [UInt8], template: RecordTemplate, route: FilterRoute)]] = [:]
    private var templateCount = 0
    private var time: [UInt8] = []
    private var extra: [UInt8] = []

    init(
        settings: JournalSettings, host: HostIdentity, maxRecordBytes: Int,
        shape: RecordShape = RecordShape(RecordSettings()),
        filter: RecordFilter = RecordFilter(filters: FilterSettings(), redaction: RedactionSettings()),
        containersOn: Bool = false
    ) {
        selector = JournalFieldSelector(patterns: settings.extraFields)
        self.host = host
        self.shape = shape
        self.filter = filter
        filterPassThrough = filter.isPassThrough
        maxFieldBytes = Int(settings.maxFieldBytes)
        self.maxRecordBytes = maxRecordBytes
        self.containersOn = containersOn
        messageLimit = containersOn ? max(maxFieldBytes, Self.containerPieceBytes) : maxFieldBytes
        hostUnits = settings.units.map { Array(JournalReader.mangleUnit($0).utf8) }
        hostIdentifiers = settings.identifiers.map { Array($0.utf8) }
    }

    /// Room for one piece of a split container message (dockerd's are 16 KiB; a line is never longer in one entry).
    static let containerPieceBytes = 64 << 10

    /// Starts a new entry.
    mutating func begin() {
        store.removeAll(keepingCapacity: store.capacity <= 4 << 20)
        extras.removeAll(keepingCapacity: true)
        message = nil
        priority = nil
        identifier = nil
        comm = nil
        unit = nil
        if containersOn { for i in containerFields.indices { containerFields[i] = nil } }
    }

    /// True if the entry was written by Docker's journald driver (it has `CONTAINER_ID_FULL`) and container entries
    /// are collected.
    /// `CONTAINER_ID_FULL` must be a container id (64 lower-case hex digits): an entry another program wrote with
    /// some other value stays a host entry.
    var isContainerEntry: Bool {
        guard containersOn, let range = containerFields[ContainerField.idFull.rawValue], range.count == 64 else { return false }
        return store[range].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// A Docker field's value, as text.
    func containerField(_ field: ContainerField) -> String? {
        guard let range = containerFields[field.rawValue] else { return nil }
        return String(decoding: store[range], as: UTF8.self)
    }

    /// MESSAGE was longer than the piece limit and was cut.
    var messageWasCut: Bool { message?.truncated == true }

    /// The raw PRIORITY (nil when absent or not 0…7).
    var rawPriority: Int? { priority }

    /// MESSAGE as read (up to the piece limit).
    func withMessage<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let range = message?.value ?? 0..<0
        return store.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// The host filters `journal.units` / `identifiers` (OR-ed; empty lists select all), for when they are not
    /// given to sd-journal as matches (container entries are read whatever they say).
    var hostSelected: Bool {
        if hostUnits.isEmpty && hostIdentifiers.isEmpty { return true }
        return store.withUnsafeBufferPointer { s in
            if let unit, hostUnits.contains(where: { $0.elementsEqual(s[unit]) }) { return true }
            if let identifier, hostIdentifiers.contains(where: { $0.elementsEqual(s[identifier]) }) { return true }
            return false
        }
    }

    /// The entry's level: PRIORITY when it is a single digit 0…7, else 6 (info).
    var level: Int { priority ?? 6 }

    /// Takes one `NAME=value` field of the current entry (valid only during this call).
    mutating func add(_ field: UnsafeBufferPointer<UInt8>) {
        tally.bytes += field.count
        guard let base = field.baseAddress, let eqPointer = memchr(base, 0x3D, field.count) else { return }
        let eq = base.distance(to: eqPointer.assumingMemoryBound(to: UInt8.self))
        let name = UnsafeBufferPointer(rebasing: field[0..<eq])
        let value = UnsafeBufferPointer(rebasing: field[(eq + 1)...])
        switch eq {
        case 7 where Self.equals(name, "MESSAGE"):
            if message == nil { message = capture(name, value, order: 0, limit: messageLimit) }
            return
        case 8 where Self.equals(name, "PRIORITY"):
            if priority == nil, value.count == 1, value[0] >= 0x30, value[0] <= 0x37 { priority = Int(value[0] - 0x30) }
            return
        case 17 where Self.equals(name, "SYSLOG_IDENTIFIER"):
            if identifier == nil { identifier = capture(name, value, order: 0).value }
            return
        case 13 where Self.equals(name, "_SYSTEMD_UNIT"):
            if unit == nil { unit = capture(name, value, order: 0).value }
            return
        case 5 where Self.equals(name, "_COMM"):
            guard comm == nil else { return }
            let captured = capture(name, value, order: 0)
            comm = captured.value
            if let order = selector.select(name) {
                extras.append(Field(name: captured.name, value: captured.value, order: order, truncated: captured.truncated))
            }
            return
        default:
            if containersOn, let field = Self.containerField(name), containerFields[field.rawValue] == nil {
                containerFields[field.rawValue] = capture(name, value, order: 0).value
            }
        }
        if let order = selector.select(name) { extras.append(capture(name, value, order: order)) }
    }

    /// Encodes the current entry as one record at the end of `out`, unless the filters drop it (then false: the
    /// entry was read and handled, nothing is written).
    @discardableResult
    mutating func finish(realtime: UInt64, into out: inout [UInt8]) -> Bool {
        if let m = message, m.value.count > maxFieldBytes {
            // Read up to a container piece's size: host messages are cut at `maxFieldBytes` here.
            let cut = store.withUnsafeBufferPointer { JSONWriter.utf8SafePrefixLength(UnsafeBufferPointer(rebasing: $0[m.value]), limit: maxFieldBytes) }
            message = Field(name: m.name, value: m.value.lowerBound..<(m.value.lowerBound + cut), order: m.order, truncated: true)
        }
        let (template, route) = self.template()
        let messageRange = message?.value ?? 0..<0
        let store = self.store
        var redacted = false
        if !filterPassThrough {
            let (filter, level) = (self.filter, self.level)
            let verdict = store.withUnsafeBufferPointer {
                filter.evaluate(route, level: level, message: UnsafeBufferPointer(rebasing: $0[messageRange]))
            }
            switch verdict {
            case .keep: break
            case .keepRedacted: redacted = true
            case .drop:
                tally.records += 1
                return false
            }
        }
        time.removeAll(keepingCapacity: true)
        Timestamp.appendRFC3339(microseconds: realtime, to: &time)
        let messageIsText = store.withUnsafeBufferPointer { Self.isText(UnsafeBufferPointer(rebasing: $0[messageRange])) }
        writeExtra(messageIsText: messageIsText)
        let (time, extra, level, maxRecordBytes) = (self.time, self.extra, self.level, self.maxRecordBytes)
        let body = redacted ? filter.redacted : []
        let outcome = store.withUnsafeBufferPointer { s in
            body.withUnsafeBufferPointer { b in
                time.withUnsafeBufferPointer { t in
                    extra.withUnsafeBufferPointer { e in
                        template.encode(
                            time: t, stream: "journal", level: level,
                            message: redacted ? b : UnsafeBufferPointer(rebasing: s[messageRange]), extra: e,
                            maxBytes: maxRecordBytes, to: &out)
                    }
                }
            }
        }
        tally.records += 1
        tally.replaced += outcome.replacements
        if outcome.truncated || message?.truncated == true { tally.messagesTruncated += 1 }
        return true
    }

    // MARK: fields

    /// The Docker field called `name`, if it is one.
    @inline(__always)
    static func containerField(_ name: UnsafeBufferPointer<UInt8>) -> ContainerField? {
        guard name.count >= 10, name[0] == 0x43 || name[0] == 0x49 else { return nil }  // C…, I…
        switch name.count {
        case 17 where equals(name, "CONTAINER_ID_FULL"): return .idFull
        case 14 where equals(name, "CONTAINER_NAME"): return .name
        case 10 where equals(name, "IMAGE_NAME"): return .image
        case 20 where equals(name, "CONTAINER_PARTIAL_ID"): return .partialId
        case 22 where equals(name, "CONTAINER_PARTIAL_LAST"): return .partialLast
        case 25 where equals(name, "CONTAINER_PARTIAL_MESSAGE"): return .partialMessage
        default: return nil
        }
    }

    private mutating func capture(
        _ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>, order: Int, limit: Int? = nil
    ) -> Field {
        let maxFieldBytes = limit ?? self.maxFieldBytes
        let nameStart = store.count
        store.append(contentsOf: name)
        let valueStart = store.count
        var length = value.count
        var truncated = false
        if length > maxFieldBytes {
            length = JSONWriter.utf8SafePrefixLength(value, limit: maxFieldBytes)
            truncated = true
            if !Self.equals(name, "MESSAGE") { tally.fieldsTruncated += 1 }
        }
        store.append(contentsOf: UnsafeBufferPointer(rebasing: value[0..<length]))
        return Field(name: nameStart..<valueStart, value: valueStart..<store.count, order: order, truncated: truncated)
    }

    /// `{"NAME":"value",…,"binary":[…],"truncated":[…],"omitted":[…]}` into `extra`, at most half a record.
    private mutating func writeExtra(messageIsText: Bool) {
        extra.removeAll(keepingCapacity: true)
        extra.append(0x7B)
        var binary: [Range<Int>] = []
        var truncated: [Range<Int>] = []
        var omitted: [Range<Int>] = []
        if let message {
            if !messageIsText { binary.append(message.name) }
            if message.truncated { truncated.append(message.name) }
        }
        let budget = max(256, maxRecordBytes / 2)
        let store = self.store
        store.withUnsafeBufferPointer { s in
            sortExtras(s)
            var previous: Range<Int>?
            for f in extras {
                let name = UnsafeBufferPointer(rebasing: s[f.name])
                if let previous, s[previous].elementsEqual(name) { continue }  // a repeated field: the first wins
                previous = f.name
                let mark = extra.count
                if extra.count > 1 { extra.append(0x2C) }
                extra.append(0x22)
                JSONWriter.appendEscaped(name, to: &extra)
                extra.append(contentsOf: "\":\"".utf8)
                let value = UnsafeBufferPointer(rebasing: s[f.value])
                let replaced = JSONWriter.appendEscaped(value, to: &extra)
                extra.append(0x22)
                if extra.count + 64 * (omitted.count + 1) > budget {
                    extra.removeSubrange(mark...)
                    omitted.append(f.name)
                    tally.fieldsTruncated += 1
                    continue
                }
                tally.replaced += replaced
                if !Self.isText(value) { binary.append(f.name) }
                if f.truncated { truncated.append(f.name) }
            }
            Self.appendNames("binary", binary, s, to: &extra)
            Self.appendNames("truncated", truncated, s, to: &extra)
            Self.appendNames("omitted", omitted, s, to: &extra)
        }
        extra.append(0x7D)
    }

    /// `,"key":["NAME",…]` when `names` is not empty.
    private static func appendNames(_ key: StaticString, _ names: [Range<Int>], _ s: UnsafeBufferPointer<UInt8>, to extra: inout [UInt8]) {
        guard !names.isEmpty else { return }
        if extra.count > 1 { extra.append(0x2C) }
        extra.append(0x22)
        key.withUTF8Buffer { extra.append(contentsOf: $0) }
        extra.append(contentsOf: "\":[".utf8)
        for (i, name) in names.enumerated() {
            if i > 0 { extra.append(0x2C) }
            extra.append(0x22)
            JSONWriter.appendEscaped(UnsafeBufferPointer(rebasing: s[name]), to: &extra)
            extra.append(0x22)
        }
        extra.append(0x5D)
    }

    /// List order for plain names, name order for patterns. An insertion sort in place: stable (a repeated field
    /// keeps its first value first), no allocation, and the lists are short and mostly in order already.
    private mutating func sortExtras(_ s: UnsafeBufferPointer<UInt8>) {
        let byOrder = selector.keepsListOrder
        for i in extras.indices.dropFirst() {
            let f = extras[i]
            var k = i
            while k > 0 {
                let p = extras[k - 1]
                let after = byOrder ? p.order > f.order : s[f.name].lexicographicallyPrecedes(s[p.name])
                guard after else { break }
                extras[k] = p
                k -= 1
            }
            extras[k] = f
        }
    }

    // MARK: templates

    /// The template and the filter rule for this entry's (identifier, unit), cached.
    private mutating func template() -> (RecordTemplate, FilterRoute) {
        let store = self.store
        return store.withUnsafeBufferPointer { s in
            let id = UnsafeBufferPointer(rebasing: s[identifier ?? comm ?? 0..<0])
            let u = UnsafeBufferPointer(rebasing: s[unit ?? 0..<0])
            let key = JournalFieldSelector.hash(id) &* 31 &+ JournalFieldSelector.hash(u)
            if let found = templates[key]?.first(where: { JournalFieldSelector.equal($0.identifier, id) && JournalFieldSelector.equal($0.unit, u) }) {
                return (found.template, found.route)
            }
            let (module, unitName) = (String(decoding: id, as: UTF8.self), String(decoding: u, as: UTF8.self))
            let template = RecordTemplate(host: host, source: "journal", moduleId: module, unit: unitName, shape: shape)
            let route = filter.route(kind: .journal, module: module, unit: unitName)
            if templateCount >= 1024 {
                templates.removeAll(keepingCapacity: true)
                templateCount = 0
            }
            templates[key, default: []].append((Array(id), Array(u), template, route))
            templateCount += 1
            return (template, route)
        }
    }

    // MARK: bytes

    @inline(__always)
    static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        guard let base = bytes.baseAddress else { return bytes.isEmpty }
        return memcmp(base, literal.utf8Start, bytes.count) == 0
    }

    /// Printable UTF-8 text: valid UTF-8 with no control characters but tab, line feed and carriage return.
    /// journald stores anything else as a byte array (journalctl shows it as `[blob data]`).
    static func isText(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c >= 0x20 && c < 0x7F || c == 0x09 || c == 0x0A || c == 0x0D {
                i += 1
                continue
            }
            if c < 0x80 { return false }
            let length = JSONWriter.validUTF8SequenceLength(b, at: i)
            if length == 0 { return false }
            i += length
        }
        return true
    }
}
