import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One line at the bottom of a terminal (stderr) that a command redraws in place, e.g. progress. Log lines go
/// above it: `EdgeLogHandler` writes through `print(_:)`, which clears the status line, writes the log line and
/// draws the status line again. Off the terminal (a pipe, a file, a container log) it shows nothing.
public final class TerminalStatusLine: Sendable {
    /// The process's status line on stderr.
    public static let standardError = TerminalStatusLine(fd: 2)

    private let fd: Int32
    private let state = Mutex<String?>(nil)

    init(fd: Int32) { self.fd = fd }

    /// True when stderr is a terminal (and TERM is not `dumb`): only then is anything drawn.
    public var isTerminal: Bool {
        guard isatty(fd) == 1 else { return false }
        return getenv("TERM").map { String(cString: $0) != "dumb" } ?? true
    }

    /// Shows `text` (replacing what was shown).
    public func show(_ text: String) {
        state.withLock { current in
            current = text
            emit("\r\u{1B}[K" + text)
        }
    }

    /// Leaves the last text on screen as an ordinary line and stops drawing.
    public func finish() {
        state.withLock { current in
            if current != nil { emit("\n") }
            current = nil
        }
    }

    /// Writes a complete line (ending in a newline) above the status line.
    public func print(_ line: String) {
        state.withLock { current in
            if let current {
                emit("\r\u{1B}[K" + line + current)
            } else {
                emit(line)
            }
        }
    }

    private func emit(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
