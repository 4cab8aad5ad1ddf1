#if canImport(Glibc)
    import Glibc
#endif
import CMalloc

/// glibc's allocator, as EdgeLog runs it.
public enum MallocArenas {
    /// One arena for every thread unless `MALLOC_ARENA_MAX` says otherwise. glibc gives each new thread that
    /// allocates its own arena (up to eight per core), and each arena keeps the megabyte buffers of the batches
    /// it saw freed; EdgeLog's threads (the cooperative pool, the blocking pool, the event loops) hand batches to
    /// each other, so with one arena those buffers are reused instead of held once per thread. Measured: 2–3 MB less
    /// peak RSS at full speed, no measurable CPU (docs/performance.md).
    /// - Returns: whether the limit was set (false when the environment names one, or glibc refused).
    @discardableResult
    public static func limitUnlessSet() -> Bool {
        guard getenv("MALLOC_ARENA_MAX") == nil else { return false }
        return mallopt(M_ARENA_MAX, 1) == 1
    }
}
