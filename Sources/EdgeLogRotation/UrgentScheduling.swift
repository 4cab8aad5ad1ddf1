#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The calling thread as SCHED_FIFO for a few microseconds, so no ordinary thread preempts it there; where that
/// is not permitted (no CAP_SYS_NICE), a sched_yield instead, so the section starts on a fresh time slice.
struct UrgentScheduling {
    private let previous: (policy: Int32, parameters: sched_param)?

    static func begin() -> UrgentScheduling {
        var policy: Int32 = 0
        var parameters = sched_param()
        if pthread_getschedparam(pthread_self(), &policy, &parameters) == 0 {
            var fifo = sched_param()
            fifo.sched_priority = 1
            if pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) == 0 {
                return UrgentScheduling(previous: (policy, parameters))
            }
        }
        sched_yield()
        return UrgentScheduling(previous: nil)
    }

    func end() {
        guard var restore = previous else { return }
        _ = pthread_setschedparam(pthread_self(), restore.policy, &restore.parameters)
    }
}
