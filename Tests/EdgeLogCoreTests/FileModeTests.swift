import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What EdgeLog writes under its state folder and into the file sink's folder is private: files 0600, folders 0700.
@Suite struct FileModeTests {
    /// Every entry under `root` with its permission bits.
    func modes(_ root: String) throws -> [(path: String, isDirectory: Bool, mode: mode_t)] {
        var result: [(String, Bool, mode_t)] = []
        var pending = [root]
        while let dir = pending.popLast() {
            for name in try FileSystem.list(dir) ?? [] {
                let path = dir + "/" + name
                guard let st = try FileSystem.status(path) else { continue }
                let isDirectory = st.st_mode & S_IFMT == S_IFDIR
                if isDirectory { pending.append(path) }
                result.append((path, isDirectory, st.st_mode & 0o7777))
            }
        }
        return result
    }

    /// The first batch is refused (a dead letter), the rest go to the file sink in the default outbox.
    struct RefuseFirst: Sink {
        let inner: FileSink
        let refused = Flag()
        var name: String { "file" }
        var format: BatchFormat { .ndjson }
        func deliver(_ batch: SinkBatch) async -> DeliveryResult {
            if refused.set() { return .permanent(reason: "refused", detail: "") }
            return await inner.deliver(batch)
        }
    }

    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
        /// True the first time.
        func set() -> Bool { !value.exchange(true, ordering: .relaxed) }
    }

    @Test func everythingWrittenIsPrivate() async throws {
        let dir = TemporaryDirectory()
        let state = dir.path + "/state"
        let c = testConfiguration(stateDirectory: state)
        let sink = RefuseFirst(inner: FileSink(directory: c.sinkDirectory, compressor: TestCompressor(), level: 1))
        let failing = CollectingSink(decompress: { try Gzip.decompress($0) })
        failing.failNext(1_000_000)
        // A run that leaves batches in the spool, then one that delivers them.
        let first = try testPipeline(c, sources: [CountingSource(name: "a", total: 1000, perChunk: 100)], sink: failing)
        #expect(try await first.run(mode: .once) == false)
        let found = try modes(state)
        #expect(found.contains { $0.path.hasSuffix(".ndjson.gz") && $0.path.contains("/spool/") })
        let second = try testPipeline(c, sources: [CountingSource(name: "a", total: 2000, perChunk: 100)], sink: sink)
        #expect(try await second.run(mode: .once))
        let all = try found + modes(state)
        #expect(all.contains { $0.path.hasSuffix("/outbox") })
        #expect(all.contains { $0.path.contains("/deadletter/") && $0.path.hasSuffix(".json") })
        #expect(all.contains { $0.path.hasSuffix("/checkpoints.json") })
        #expect(all.contains { $0.path.hasSuffix("/checkpoints.reserve") })
        for entry in all {
            #expect(entry.mode == (entry.isDirectory ? 0o700 : 0o600), "\(entry.path) is \(String(entry.mode, radix: 8))")
        }
        var st = stat()
        #expect(stat(state, &st) == 0 && st.st_mode & 0o777 == 0o700)
    }

    @Test func foldersAnOlderVersionLeftOpenAreMadePrivate() throws {
        let dir = TemporaryDirectory()
        let state = dir.path + "/state"
        for folder in [state, state + "/spool", state + "/deadletter", state + "/outbox"] {
            #expect(mkdir(folder, 0o755) == 0 && chmod(folder, 0o755) == 0)
        }
        let c = testConfiguration(stateDirectory: state)
        _ = try testPipeline(c, sources: [], sink: CollectingSink(decompress: { $0 }))
        for folder in [state, state + "/spool", state + "/deadletter", state + "/outbox"] {
            var st = stat()
            #expect(stat(folder, &st) == 0 && st.st_mode & 0o777 == 0o700, "\(folder)")
        }
    }
}
