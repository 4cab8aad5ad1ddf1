/// Sizes in configuration: a number of bytes, or a string such as `"10MB"`, `"256MiB"`, `"100k"`.
/// KB, MB, GB are powers of 1000; KiB, MiB, GiB and logrotate's bare k, M, G are powers of 1024.
public enum ByteSize {
    public static func parse(_ text: String) -> Int64? {
        let trimmed = text.filter { $0 != " " }
        let digits = trimmed.prefix(while: { $0.isNumber || $0 == "." })
        let unit = trimmed.dropFirst(digits.count)
        guard !digits.isEmpty, let number = Double(digits) else { return nil }
        let multiplier: Double
        switch unit {
        case "", "B", "b": multiplier = 1
        case "KB", "kB", "kb": multiplier = 1e3
        case "MB", "mb": multiplier = 1e6
        case "GB", "gb": multiplier = 1e9
        case "KiB", "k", "K": multiplier = 1024
        case "MiB", "M": multiplier = 1024 * 1024
        case "GiB", "G": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        let value = (number * multiplier).rounded()
        guard value >= 0, value < 9e18 else { return nil }
        return Int64(value)
    }

    /// A readable form for messages, e.g. `268435456 (256 MiB)`.
    public static func describe(_ bytes: Int64) -> String {
        let units: [(Int64, String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where bytes >= size && bytes % size == 0 {
            return "\(bytes) (\(bytes / size) \(name))"
        }
        return "\(bytes)"
    }
}
