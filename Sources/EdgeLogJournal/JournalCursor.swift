/// The parts of an sd-journal cursor EdgeLog looks into: `s=…;i=…;b=…;m=…;t=…;x=…`, all hex.
/// Otherwise a cursor is opaque and handed back to sd-journal as it is.
public enum JournalCursor {
    /// The entry's realtime timestamp (`t=`, hex microseconds since the epoch), or nil if the cursor has none.
    public static func realtime(_ cursor: String) -> UInt64? {
        field("t", of: cursor).flatMap { UInt64($0, radix: 16) }
    }

    /// The value of `key=` in a cursor.
    public static func field(_ key: String, of cursor: String) -> Substring? {
        for part in cursor.split(separator: ";") {
            guard let eq = part.firstIndex(of: "="), part[..<eq] == key else { continue }
            let value = part[part.index(after: eq)...]
            return value.isEmpty ? nil : value
        }
        return nil
    }
}

/// The position saved while container messages split over several entries are still open: reading resumes after
/// `hold` (the entry before the oldest open message's first piece), and entries up to and including `through`
/// (the last one handled) are read again only for the pieces of the messages named in `open`; everything else up
/// to `through` was shipped already and is skipped. Saved as `hold|through|key,key…` (journal cursors hold no
/// `|`); `hold` is empty when the first piece was the journal's first entry.
struct HeldCursor: Equatable {
    var hold: String
    var through: String
    var open: [String]

    var text: String { hold + "|" + through + "|" + open.joined(separator: ",") }

    /// A saved position that holds open messages, or nil for a plain cursor.
    init?(_ saved: String) {
        let parts = saved.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty else { return nil }
        hold = String(parts[0])
        through = String(parts[1])
        open = parts[2].split(separator: ",").map(String.init)
    }

    init(hold: String, through: String, open: [String]) {
        self.hold = hold
        self.through = through
        self.open = open
    }
}
