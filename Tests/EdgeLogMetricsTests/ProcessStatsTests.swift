import EdgeLogMetrics
import Foundation
import Testing

@Suite struct ProcessStatsTests {
    @Test func residentMemoryIsThereAndGrowsWithTouchedMemory() throws {
        let before = try #require(ProcessStats.residentBytes())
        #expect(before > 1 << 20)
        // 64 MiB, every page written: resident memory must show it.
        let size = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { block.deallocate() }
        for offset in stride(from: 0, to: size, by: 4096) {
            block.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self)
        }
        let after = try #require(ProcessStats.residentBytes())
        #expect(after - before > 32 << 20)
    }

    @Test func openDescriptorsCountWhatIsOpen() throws {
        // Other tests open and close descriptors in parallel: count with 50 extra held open, then without.
        let extra = (0..<50).map { _ in open("/dev/null", O_RDONLY) }
        let with = try #require(ProcessStats.openFileDescriptors())
        for fd in extra { close(fd) }
        let without = try #require(ProcessStats.openFileDescriptors())
        #expect(with >= 50 + 3)
        #expect(with - without > 25)
    }
}
