import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// Runs a command to completion; throws with its output if it fails.
@discardableResult
func run(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw HarnessError("\(executable) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(output)")
    }
    return output
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The first of `names` found on PATH or in the usual system folders; a clear failure otherwise.
func requireTool(_ name: String, package: String) throws -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
        let path = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw HarnessError("\(name) is required for the module twin integration tests: install it with `apt-get install \(package)` (scripts/setup.sh does)")
}

/// An edge CA and a server certificate for `localhost`, made with openssl.
struct TestCertificates {
    let caFile: String
    let certFile: String
    let keyFile: String
    var caPEM: [UInt8] { Array(try! String(contentsOfFile: caFile, encoding: .utf8).utf8) }

    init(in dir: String) throws {
        let openssl = try requireTool("openssl", package: "openssl")
        caFile = dir + "/ca.pem"
        certFile = dir + "/server.pem"
        keyFile = dir + "/server.key"
        try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/ca.key", "-out", caFile, "-days", "2", "-subj", "/CN=EdgeLog test edge CA"])
        try run(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", dir + "/server.csr", "-subj", "/CN=localhost"])
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n".write(toFile: dir + "/ext.cnf", atomically: true, encoding: .utf8)
        try run(openssl, ["x509", "-req", "-in", dir + "/server.csr", "-CA", caFile, "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", certFile, "-days", "2", "-extfile", dir + "/ext.cnf"])
    }
}

/// mosquitto as edgeHub's MQTT head: TLS on an ephemeral port, detached, output to a log file.
final class Mosquitto: @unchecked Sendable {
    let port: Int
    let directory: String
    let certificates: TestCertificates
    private var process: Process?

    init(directory: String, certificates: TestCertificates) throws {
        self.directory = directory
        self.certificates = certificates
        port = try freePort()
        let config = """
            user root
            per_listener_settings false
            allow_anonymous true
            persistence false
            log_type all
            log_dest file \(directory)/mosquitto.log
            max_packet_size 4000000
            listener \(port) 127.0.0.1
            cafile \(certificates.caFile)
            certfile \(certificates.certFile)
            keyfile \(certificates.keyFile)
            require_certificate false

            """
        try config.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try start()
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try requireTool("mosquitto", package: "mosquitto"))
        p.arguments = ["-c", directory + "/mosquitto.conf"]
        p.standardInput = FileHandle.nullDevice
        let log = directory + "/mosquitto.out"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
    }

    /// Waits until the broker accepts TCP connections.
    func waitReady() async throws {
        try await eventually("mosquitto listening on \(port)") {
            if let p = self.process, !p.isRunning {
                throw HarnessError("mosquitto exited: \((try? String(contentsOfFile: self.directory + "/mosquitto.out", encoding: .utf8)) ?? "")")
            }
            return canConnect(port: self.port)
        }
    }

    func stop() {
        guard let p = process else { return }
        // SIGKILL: the test process blocks SIGTERM (signal handling), and a spawned child inherits that mask.
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
