/// Redraws a progress line on the terminal twice a second while a command runs (`run --once`, `rotate`), and
/// leaves the final figures as an ordinary line when it stops. Off a terminal it does nothing at all.
public final class ProgressReporter: Sendable {
    private let task: Task<Void, Never>?
    private let render: @Sendable (Double) -> String
    private let started = ContinuousClock.now
    private let line: TerminalStatusLine

    /// - Parameter render: the line for a number of seconds since the start.
    public init(
        line: TerminalStatusLine = .standardError, every interval: Duration = .milliseconds(500),
        render: @escaping @Sendable (_ seconds: Double) -> String
    ) {
        self.render = render
        self.line = line
        guard line.isTerminal else {
            task = nil
            return
        }
        let started = self.started
        task = Task {
            while !Task.isCancelled {
                line.show(render(Self.seconds(since: started)))
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Stops redrawing and leaves the final line.
    public func finish() async {
        guard let task else { return }
        task.cancel()
        await task.value
        line.show(render(Self.seconds(since: started)))
        line.finish()
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
