/// One file name of a rotation chain in a container's folder: the live file `<base>` (index 0), a rotated
/// `<base>.N`, or a rotated and compressed `<base>.N.gz`. dockerd renames `<base>` to `<base>.1` and shifts the
/// others up by one (deleting the last), and with `compress=true` compresses `.1` to `.1.gz` in the background.
struct ChainMember: Equatable, Sendable {
    var name: String
    var index: Int
    var compressed: Bool

    var isLive: Bool { index == 0 }

    /// The member `name` stands for in a chain named `base`, or nil.
    static func parse(_ name: String, base: String) -> ChainMember? {
        if name == base { return ChainMember(name: name, index: 0, compressed: false) }
        guard name.hasPrefix(base + ".") else { return nil }
        var rest = name.utf8.dropFirst(base.utf8.count + 1)
        var compressed = false
        if rest.count > 3 && rest.suffix(3).elementsEqual(".gz".utf8) {
            compressed = true
            rest = rest.dropLast(3)
        }
        guard !rest.isEmpty, rest.count <= 6, rest.first != UInt8(ascii: "0"),
            rest.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let index = Int(String(decoding: rest, as: UTF8.self))
        else { return nil }
        return ChainMember(name: name, index: index, compressed: compressed)
    }

    /// The chain among `names`, oldest first: the highest index first, the live file last. Where `.N` and `.N.gz`
    /// are both there, the compression of `.N` is under way and `.N.gz` is not complete yet: only `.N` counts.
    static func ordered(_ names: [String], base: String) -> [ChainMember] {
        var members = names.compactMap { parse($0, base: base) }
        let plain = Set(members.filter { !$0.compressed }.map(\.index))
        members.removeAll { $0.compressed && plain.contains($0.index) }
        return members.sorted { $0.index > $1.index }
    }
}
