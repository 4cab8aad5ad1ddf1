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
