/// What a rotation chain needs to know of a log format: when the entries in some bytes were written. A chain uses
/// it only to estimate how much was lost where files were deleted before they could be read.
protocol EntryClock: Sendable {
    /// Time (nanoseconds since the epoch) of the first complete entry in `head`, the start of a file.
    func firstTime(_ head: UnsafeBufferPointer<UInt8>) -> Int64?
    /// Time of the last complete entry in `tail`, the end of a file (`tail` may begin in the middle of an entry).
    func lastTime(_ tail: UnsafeBufferPointer<UInt8>) -> Int64?
    /// Number of complete entries in `bytes` (the start of a file): for an average entry size.
    func entries(_ bytes: UnsafeBufferPointer<UInt8>) -> Int
    /// True for length-framed binary entries (the `local` driver): a file's fingerprint then covers its first
    /// entry rather than its first line.
    var framedEntries: Bool { get }
}

extension EntryClock {
    var framedEntries: Bool { false }
}
