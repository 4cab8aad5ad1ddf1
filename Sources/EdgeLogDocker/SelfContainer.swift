import EdgeLogCore

/// Finds EdgeLog's own container id, so its own logs are not shipped back (a feedback loop otherwise).
enum SelfContainer {
    /// Docker bind-mounts `/var/lib/docker/containers/<id>/hostname` (and resolv.conf, hosts) into every
    /// container, so the id shows in /proc/self/mountinfo.
    static func id(mountinfo: String = "/proc/self/mountinfo") -> String? {
        guard let bytes = try? FileSystem.read(mountinfo, limit: 1 << 20) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let marker = Array("/containers/".utf8)
        for line in text.split(separator: "\n") {
            let bytes = Array(line.utf8)
            var i = 0
            while i + marker.count + 64 <= bytes.count {
                if bytes[i..<(i + marker.count)].elementsEqual(marker) {
                    let candidate = bytes[(i + marker.count)..<(i + marker.count + 64)]
                    if candidate.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
                        return String(decoding: candidate, as: UTF8.self)
                    }
                }
                i += 1
            }
        }
        return nil
    }
}
