/// `no_proxy` / `NO_PROXY`: hosts reached directly, as curl reads it. Comma- or space-separated entries:
/// `*` (everything), a host name (itself and its subdomains; a leading `.` or `*.` is allowed), an IP address,
/// an IPv4 CIDR block (`10.0.0.0/8`), each optionally with `:port`. Case-insensitive.
public struct NoProxy: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var host: String
        var port: Int?
        var cidr: (network: UInt32, bits: Int)?

        static func == (a: Entry, b: Entry) -> Bool {
            a.host == b.host && a.port == b.port && a.cidr?.network == b.cidr?.network && a.cidr?.bits == b.cidr?.bits
        }
    }

    let all: Bool
    let entries: [Entry]

    /// Parses the value of `no_proxy`; entries it cannot read are ignored.
    public init(_ list: String) {
        var all = false
        var entries: [Entry] = []
        for raw in list.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            var item = raw.lowercased()
            if item == "*" {
                all = true
                continue
            }
            var port: Int?
            if item.hasPrefix("["), let close = item.firstIndex(of: "]") {
                let rest = item[item.index(after: close)...]
                if rest.hasPrefix(":") { port = Int(rest.dropFirst()) }
                item = String(item[item.index(after: item.startIndex)..<close])
            } else if item.filter({ $0 == ":" }).count == 1, let colon = item.lastIndex(of: ":") {
                port = Int(item[item.index(after: colon)...])
                item = String(item[..<colon])
            }
            if item.hasPrefix("*.") { item.removeFirst(2) }
            while item.hasPrefix(".") { item.removeFirst() }
            while item.hasSuffix(".") { item.removeLast() }
            guard !item.isEmpty else { continue }
            var cidr: (UInt32, Int)?
            if let slash = item.firstIndex(of: "/"), let bits = Int(item[item.index(after: slash)...]),
                (0...32).contains(bits),
                let network = Self.ipv4(String(item[..<slash]))
            {
                cidr = (network, bits)
            }
            entries.append(Entry(host: item, port: port, cidr: cidr))
        }
        self.all = all
        self.entries = entries
    }

    /// True if `host` (lower case, no brackets) on `port` is to be reached without the proxy.
    public func matches(host rawHost: String, port: Int) -> Bool {
        if all { return true }
        var host = rawHost.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        let address = Self.ipv4(host)
        for entry in entries {
            if let p = entry.port, p != port { continue }
            if let (network, bits) = entry.cidr {
                guard let address else { continue }
                let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
                if address & mask == network & mask { return true }
                continue
            }
            if host == entry.host { return true }
            if address == nil, !host.contains(":"), host.hasSuffix("." + entry.host) { return true }
        }
        return false
    }

    static func ipv4(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            value = value << 8 | UInt32(b)
        }
        return value
    }
}
