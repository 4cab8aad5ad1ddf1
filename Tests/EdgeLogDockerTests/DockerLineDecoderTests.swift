import EdgeLogDocker
import Testing

/// Input line → expected decoded fields.
struct GoldenLine: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let log: [UInt8]
    let stream: DockerStream
    let time: String
    let attrs: String

    init(_ name: String, _ input: String, log: String, stream: DockerStream = .other, time: String = "", attrs: String = "") {
        self.init(name, bytes: Array(input.utf8), log: Array(log.utf8), stream: stream, time: time, attrs: attrs)
    }

    init(_ name: String, _ input: String, logBytes: [UInt8], stream: DockerStream = .other, time: String = "", attrs: String = "") {
        self.init(name, bytes: Array(input.utf8), log: logBytes, stream: stream, time: time, attrs: attrs)
    }

    init(_ name: String, bytes: [UInt8], log: [UInt8], stream: DockerStream = .other, time: String = "", attrs: String = "") {
        self.name = name
        self.input = bytes
        self.log = log
        self.stream = stream
        self.time = time
        self.attrs = attrs
    }

    var testDescription: String { name }
}

/// Input line → expected error.
struct BadLine: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let offset: Int
    let reasonContains: String

    init(_ name: String, _ input: String, offset: Int, _ reasonContains: String) {
        self.init(name, bytes: Array(input.utf8), offset: offset, reasonContains)
    }

    init(_ name: String, bytes: [UInt8], offset: Int, _ reasonContains: String) {
        self.name = name
        self.input = bytes
        self.offset = offset
        self.reasonContains = reasonContains
    }

    var testDescription: String { name }
}

private let time1 = "2026-11-27T18:04:31.123456789Z"

private let goldenLines: [GoldenLine] = [
    GoldenLine(
        "plain", #"{"log":"hello world\n","stream":"stdout","time":"2026-11-27T18:04:31.123456789Z"}"#,
        log: "hello world\n", stream: .stdout, time: time1),
    GoldenLine(
        "every simple escape", #"{"log":"a\"b\\c\/d\be\ff\ng\rh\ti","stream":"stderr","time":"t"}"#,
        logBytes: [0x61, 0x22, 0x62, 0x5C, 0x63, 0x2F, 0x64, 0x08, 0x65, 0x0C, 0x66, 0x0A, 0x67, 0x0D, 0x68, 0x09, 0x69],
        stream: .stderr, time: "t"),
    GoldenLine("\\u0041", #"{"log":"\u0041"}"#, log: "A"),
    GoldenLine("\\u00e9", #"{"log":"caf\u00e9"}"#, logBytes: [0x63, 0x61, 0x66, 0xC3, 0xA9]),
    GoldenLine("\\u00E9 upper-case hex", #"{"log":"\u00E9"}"#, logBytes: [0xC3, 0xA9]),
    GoldenLine("\\u20ac", #"{"log":"\u20ac5"}"#, logBytes: [0xE2, 0x82, 0xAC, 0x35]),
    GoldenLine("\\u0000", #"{"log":"a\u0000b"}"#, logBytes: [0x61, 0x00, 0x62]),
    GoldenLine("surrogate pair", #"{"log":"\ud83d\ude00"}"#, logBytes: [0xF0, 0x9F, 0x98, 0x80]),
    GoldenLine("surrogate pair upper-case", #"{"log":"<\uD83D\uDE00>"}"#, logBytes: [0x3C, 0xF0, 0x9F, 0x98, 0x80, 0x3E]),
    GoldenLine("lone high surrogate", #"{"log":"\ud83dx"}"#, logBytes: [0xEF, 0xBF, 0xBD, 0x78]),
    GoldenLine("lone high surrogate at end", #"{"log":"x\ud83d"}"#, logBytes: [0x78, 0xEF, 0xBF, 0xBD]),
    GoldenLine("lone low surrogate", #"{"log":"\ude00"}"#, logBytes: [0xEF, 0xBF, 0xBD]),
    GoldenLine(
        "high surrogate then non-low escape", #"{"log":"\ud83d\u0041"}"#, logBytes: [0xEF, 0xBF, 0xBD, 0x41]),
    GoldenLine(
        "two high surrogates then low", #"{"log":"\ud83d\ud83d\ude00"}"#,
        logBytes: [0xEF, 0xBF, 0xBD, 0xF0, 0x9F, 0x98, 0x80]),
    GoldenLine(
        "escaped quotes and backslashes", #"{"log":"say \"hi\" C:\\dir\\ \\\" end"}"#,
        log: #"say "hi" C:\dir\ \" end"#),
    GoldenLine("escape at run boundaries", #"{"log":"\n0123456789abcdef\t"}"#, log: "\n0123456789abcdef\t"),
    GoldenLine("empty log", #"{"log":"","stream":"stdout"}"#, log: "", stream: .stdout),
    GoldenLine(
        "keys in other order", #"{"time":"T1","stream":"stderr","log":"x"}"#, log: "x", stream: .stderr, time: "T1"),
    GoldenLine(
        "stream first", #"{"stream":"stdout","log":"y","time":"T2"}"#, log: "y", stream: .stdout, time: "T2"),
    GoldenLine(
        "whitespace", " \t{ \"log\" : \"x y\" ,\n\t\"stream\"\t:\t\"stdout\" , \"time\":\"T\"\r\n}  \r",
        log: "x y", stream: .stdout, time: "T"),
    GoldenLine("trailing CR", "{\"log\":\"a\"}\r", log: "a"),
    GoldenLine(
        "attrs object verbatim", #"{"log":"x","attrs":{"tag":"web","n":[1,2,{"a":null}]},"stream":"stdout"}"#,
        log: "x", stream: .stdout, attrs: #"{"tag":"web","n":[1,2,{"a":null}]}"#),
    GoldenLine(
        "attrs object with whitespace and escapes verbatim", #"{"attrs": { "k" : "v\"\u00e9" , "e":{} } ,"log":"x"}"#,
        log: "x", attrs: #"{ "k" : "v\"\u00e9" , "e":{} }"#),
    GoldenLine("attrs string ignored", #"{"log":"x","attrs":"{}"}"#, log: "x"),
    GoldenLine("attrs array ignored", #"{"log":"x","attrs":[{"a":1}]}"#, log: "x"),
    GoldenLine("attrs null ignored", #"{"log":"x","attrs":null}"#, log: "x"),
    GoldenLine("attrs duplicate, last (non-object) wins", #"{"log":"x","attrs":{"a":1},"attrs":2}"#, log: "x"),
    GoldenLine(
        "unknown nested members skipped",
        #"{"x":{"y":[true,false,null,-1.5e+3,0,12.25,1E9,"s\"\u0041\\"],"z":{},"w":[[],[{}]]},"log":"x","q":-0,"r":"\ud83d"}"#,
        log: "x"),
    GoldenLine("unknown member with escaped braces in string", #"{"u":"}{][,:","log":"ok"}"#, log: "ok"),
    GoldenLine("stream other value", #"{"log":"x","stream":"console"}"#, log: "x", stream: .other),
    GoldenLine("stream not a string", #"{"log":"x","stream":1}"#, log: "x", stream: .other),
    GoldenLine("stream escaped", #"{"log":"x","stream":"std\u006fut"}"#, log: "x", stream: .stdout),
    GoldenLine("time not a string", #"{"log":"x","time":12345}"#, log: "x"),
    GoldenLine("time escaped", #"{"log":"x","time":"2026\u002d01"}"#, log: "x", time: "2026-01"),
    GoldenLine("escaped member name", #"{"l\u006fg":"x","\u0073tream":"stderr"}"#, log: "x", stream: .stderr),
    GoldenLine("look-alike member names", #"{"logs":"no","Log":"no","log":"yes","streams":"stdout"}"#, log: "yes"),
    GoldenLine(
        "duplicate keys: last wins", #"{"log":"first","stream":"stdout","log":"second","stream":"stderr","time":"a","time":"b"}"#,
        log: "second", stream: .stderr, time: "b"),
    GoldenLine(
        "invalid UTF-8 passed through",
        bytes: Array(#"{"log":"a"#.utf8) + [0xFF, 0xFE, 0xC3, 0x28, 0xED, 0xA0, 0x80] + Array(#"b","stream":"stdout"}"#.utf8),
        log: [0x61, 0xFF, 0xFE, 0xC3, 0x28, 0xED, 0xA0, 0x80, 0x62], stream: .stdout),
    GoldenLine(
        "valid raw UTF-8 and DEL", bytes: Array("{\"log\":\"é€😀\u{7F}\"}".utf8),
        log: Array("é€😀\u{7F}".utf8)),
]

private let badLines: [BadLine] = [
    BadLine("empty", "", offset: 0, "empty line"),
    BadLine("blank", "  \r", offset: 3, "blank line"),
    BadLine("not an object", "[1]", offset: 0, "expected '{'"),
    BadLine("missing log", #"{"stream":"stdout","time":"t"}"#, offset: 0, "no log field"),
    BadLine("empty object", "{}", offset: 0, "no log field"),
    BadLine("log not a string", #"{"log":1}"#, offset: 7, "\"log\" is not a string"),
    BadLine("invalid escape \\x", #"{"log":"ab\x41"}"#, offset: 10, "invalid escape '\\x'"),
    BadLine("invalid escape \\U", #"{"log":"\U0041"}"#, offset: 8, "invalid escape '\\U'"),
    BadLine("invalid \\u hex", #"{"log":"\u12G4"}"#, offset: 8, "invalid \\u escape"),
    BadLine("invalid escape in unknown member", #"{"x":"\q","log":"a"}"#, offset: 6, "invalid escape '\\q'"),
    BadLine("invalid escape in member name", #"{"\z":1,"log":"a"}"#, offset: 2, "invalid escape '\\z'"),
    BadLine("raw control char", bytes: Array(#"{"log":"a"#.utf8) + [0x01] + Array(#""}"#.utf8), offset: 9, "raw control character 0x01"),
    BadLine("raw tab", "{\"log\":\"a\tb\"}", offset: 9, "raw control character 0x09"),
    BadLine("raw newline in time", "{\"log\":\"a\",\"time\":\"x\ny\"}", offset: 20, "raw control character 0x0A"),
    BadLine("truncated in log", #"{"log":"abc"#, offset: 7, "unterminated string"),
    BadLine("truncated after log", #"{"log":"abc""#, offset: 12, "unexpected end of line"),
    BadLine("truncated after comma", #"{"log":"abc","#, offset: 13, "unexpected end of line, expected a member name"),
    BadLine("truncated in escape", #"{"log":"abc\"#, offset: 11, "unterminated escape"),
    BadLine("truncated in \\u escape", #"{"log":"abc\u12"#, offset: 11, "truncated \\u escape"),
    BadLine("truncated in unknown object", #"{"log":"a","x":{"y":[1,"#, offset: 23, "unexpected end of line, expected a value"),
    BadLine("trailing garbage", #"{"log":"a"}x"#, offset: 11, "trailing data"),
    BadLine("trailing second object", #"{"log":"a"} {}"#, offset: 12, "trailing data"),
    BadLine("missing colon", #"{"log" "a"}"#, offset: 7, "expected ':'"),
    BadLine("missing comma", #"{"log":"a" "stream":"stdout"}"#, offset: 11, "expected ',' or '}'"),
    BadLine("trailing comma", #"{"log":"a",}"#, offset: 11, "expected a member name"),
    BadLine("unquoted name", #"{log:"a"}"#, offset: 1, "expected a member name"),
    BadLine("bad literal", #"{"x":tru,"log":"a"}"#, offset: 5, "invalid literal"),
    BadLine("leading zero", #"{"x":01,"log":"a"}"#, offset: 6, "expected ',' or '}'"),
    BadLine("lone minus", #"{"x":-,"log":"a"}"#, offset: 5, "invalid number"),
    BadLine("no fraction digit", #"{"x":1.,"log":"a"}"#, offset: 5, "invalid number"),
    BadLine("no exponent digit", #"{"x":1e+,"log":"a"}"#, offset: 5, "invalid number"),
    BadLine("bad value", #"{"x":@,"log":"a"}"#, offset: 5, "expected a value"),
    BadLine("array trailing comma", #"{"x":[1,],"log":"a"}"#, offset: 8, "expected a value"),
    BadLine("bad attrs", #"{"log":"a","attrs":{"k":}}"#, offset: 24, "expected a value"),
]

private func decode(_ input: [UInt8], into line: inout DockerLine) -> DockerLineError? {
    input.withUnsafeBufferPointer { DockerLineDecoder.decode($0, into: &line) }
}

private func decodeHead(_ input: [UInt8], into line: inout DockerLine) -> Bool {
    input.withUnsafeBufferPointer { DockerLineDecoder.decodeHead($0, into: &line) }
}

private func decodeHead(_ input: String, cutAfter count: Int, into line: inout DockerLine) -> Bool {
    decodeHead(Array(Array(input.utf8)[..<count]), into: &line)
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite struct DockerLineDecoderTests {
    @Test(arguments: goldenLines)
    func golden(_ golden: GoldenLine) {
        var line = DockerLine()
        let error = decode(golden.input, into: &line)
        #expect(error == nil)
        #expect(line.log == golden.log)
        #expect(line.stream == golden.stream)
        #expect(text(line.time) == golden.time)
        #expect(text(line.attrs) == golden.attrs)
    }

    @Test(arguments: badLines)
    func errors(_ bad: BadLine) throws {
        var line = DockerLine()
        let error = try #require(decode(bad.input, into: &line))
        #expect(error.offset == bad.offset)
        #expect(error.reason.contains(bad.reasonContains), "reason: \(error.reason)")
        #expect(error.description.contains(error.reason))
        #expect(error.description.contains("\(bad.offset)"))
    }

    @Test func reusesBuffersAndResetsFields() {
        var line = DockerLine()
        let long = #"{"log":"\#(String(repeating: "x", count: 4096))","stream":"stderr","time":"T","attrs":{"a":1}}"#
        #expect(decode(Array(long.utf8), into: &line) == nil)
        #expect(line.log.count == 4096)
        let capacity = line.log.capacity
        let storage = line.log.withUnsafeBufferPointer { $0.baseAddress }
        #expect(decode(Array(#"{"log":"short"}"#.utf8), into: &line) == nil)
        #expect(text(line.log) == "short")
        #expect(line.stream == .other)
        #expect(line.time.isEmpty)
        #expect(line.attrs.isEmpty)
        #expect(line.log.capacity == capacity)
        // Same storage: no reallocation once warm.
        for _ in 0..<3 {
            #expect(decode(Array(#"{"log":"again\n","stream":"stdout"}"#.utf8), into: &line) == nil)
            #expect(text(line.log) == "again\n")
            #expect(line.log.withUnsafeBufferPointer { $0.baseAddress } == storage)
        }
    }

    @Test func largePlainLog() {
        let value = String(repeating: "0123456789abcdef", count: 6400)  // 102,400 bytes
        var line = DockerLine()
        let input = Array(#"{"log":"\#(value)","stream":"stdout","time":"\#(time1)"}"#.utf8)
        #expect(decode(input, into: &line) == nil)
        #expect(line.log.count == 102_400)
        #expect(line.log == Array(value.utf8))
        #expect(line.stream == .stdout)
        #expect(text(line.time) == time1)
    }

    @Test func largeLogWithEscapes() {
        var escaped: [UInt8] = []
        var expected: [UInt8] = []
        for k in 0..<100_000 {
            switch k % 997 {
            case 0:
                escaped += Array(#"\n"#.utf8)
                expected.append(0x0A)
            case 500:
                escaped += Array(#"\u20ac"#.utf8)
                expected += [0xE2, 0x82, 0xAC]
            case 700:
                escaped += Array("é".utf8)
                expected += [0xC3, 0xA9]
            default:
                let c = UInt8(0x61 + k % 26)
                escaped.append(c)
                expected.append(c)
            }
        }
        let input = Array(#"{"log":""#.utf8) + escaped + Array(#"","stream":"stderr"}"#.utf8)
        var line = DockerLine()
        #expect(decode(input, into: &line) == nil)
        #expect(line.log == expected)
        #expect(line.stream == .stderr)
    }

    /// The string scanner reads 16 and 8 bytes at a time: put the closing quote, an escape and a control
    /// character at every position of several chunks, around bytes next to the special ones
    /// (0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, and high bytes such as 0xA2 = 0x22|0x80, 0xDC = 0x5C|0x80).
    @Test func specialBytesAtEveryPosition() throws {
        let palette: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, 0x9C, 0xA2, 0xDC, 0x61, 0x7E]
        let prefix = Array(#"{"log":""#.utf8)
        let suffix = Array(#"","stream":"stdout"}"#.utf8)
        var line = DockerLine()
        for length in 0..<50 {
            let plain = (0..<length).map { palette[$0 % palette.count] }
            #expect(decode(prefix + plain + suffix, into: &line) == nil)
            #expect(line.log == plain, "length \(length)")
            #expect(line.stream == .stdout)
            for at in 0...length {
                let input = prefix + plain[..<at] + Array(#"\t"#.utf8) + plain[at...] + suffix
                #expect(decode(input, into: &line) == nil)
                #expect(line.log == Array(plain[..<at]) + [0x09] + Array(plain[at...]), "escape at \(at) of \(length)")
            }
            for at in 0..<length {
                var bad = plain
                bad[at] = 0x1F
                let error = try #require(decode(prefix + bad + suffix, into: &line))
                #expect(error.offset == prefix.count + at, "control character at \(at) of \(length)")
            }
        }
    }

    @Test func nestingDepthLimit() {
        func nested(_ depth: Int) -> [UInt8] {
            Array(#"{"x":\#(String(repeating: "[", count: depth))\#(String(repeating: "]", count: depth)),"log":"a"}"#.utf8)
        }
        var line = DockerLine()
        #expect(decode(nested(DockerLineDecoder.maxDepth), into: &line) == nil)
        #expect(text(line.log) == "a")
        let error = decode(nested(DockerLineDecoder.maxDepth + 1), into: &line)
        #expect(error?.reason.contains("nesting deeper") == true)
        #expect(error?.offset == 5 + DockerLineDecoder.maxDepth)
    }

    // MARK: decodeHead

    @Test func headCutInLogString() {
        let full = #"{"log":"hello world, this is long","stream":"stdout","time":"\#(time1)"}"#
        var line = DockerLine()
        #expect(decodeHead(full, cutAfter: 16, into: &line))  // {"log":"hello wo
        #expect(text(line.log) == "hello wo")
        #expect(line.stream == .other)
        #expect(line.time.isEmpty)
    }

    @Test func headKeepsStreamAndTimeSeenBeforeTheCut() {
        let full = #"{"stream":"stderr","time":"\#(time1)","log":"abcdefghij"}"#
        let cut = full.utf8.count - 6  // ... "log":"abcdef
        var line = DockerLine()
        #expect(decodeHead(full, cutAfter: cut, into: &line))
        #expect(text(line.log) == "abcdef")
        #expect(line.stream == .stderr)
        #expect(text(line.time) == time1)
    }

    @Test func headCutInsideTimeLeavesTimeEmpty() {
        let full = #"{"log":"abc","stream":"stdout","time":"2026-11-27T18:04"#
        var line = DockerLine()
        #expect(decodeHead(Array(full.utf8), into: &line))
        #expect(text(line.log) == "abc")
        #expect(line.stream == .stdout)
        #expect(line.time.isEmpty)
    }

    @Test func headOfCompleteLine() {
        let full = #"{"log":"a\tb","stream":"stderr","time":"T","attrs":{"k":"v"}}"#
        var line = DockerLine()
        #expect(decodeHead(Array(full.utf8), into: &line))
        #expect(text(line.log) == "a\tb")
        #expect(line.stream == .stderr)
        #expect(text(line.time) == "T")
        #expect(text(line.attrs) == #"{"k":"v"}"#)
    }

    @Test(arguments: [
        // (line cut after the last byte shown, expected log)
        (#"{"log":"ab\u12"#, "ab"),
        (#"{"log":"ab\u"#, "ab"),
        (#"{"log":"ab\"#, "ab"),
        (#"{"log":"ab\n"#, "ab\n"),
        (#"{"log":"ab\u0041"#, "abA"),
        (#"{"log":"ab\ud83d"#, "ab"),
        (#"{"log":"ab\ud83d\"#, "ab"),
        (#"{"log":"ab\ud83d\u"#, "ab"),
        (#"{"log":"ab\ud83d\ude0"#, "ab"),
        (#"{"log":"ab\ud83d\ude00"#, "ab😀"),
        (#"{"log":"ab\ud83d\n"#, "ab\u{FFFD}\n"),
        (#"{"log":"ab\ude00"#, "ab\u{FFFD}"),
        (#"{"log":"ab\x41cd"#, "ab"),
    ])
    func headCutInEscape(_ input: String, _ expected: String) {
        var line = DockerLine()
        #expect(decodeHead(Array(input.utf8), into: &line))
        #expect(text(line.log) == expected)
    }

    @Test func headCutInMultiByteUTF8() {
        let value = "aé€😀"  // 61 | C3 A9 | E2 82 AC | F0 9F 98 80
        let prefix = Array(#"{"log":""#.utf8)
        let bytes = prefix + Array(value.utf8)
        // cut after k bytes of the value → expected log bytes
        let expectations: [(Int, [UInt8])] = [
            (1, [0x61]),
            (2, [0x61]),
            (3, [0x61, 0xC3, 0xA9]),
            (4, [0x61, 0xC3, 0xA9]),
            (5, [0x61, 0xC3, 0xA9]),
            (6, [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]),
            (7, [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]),
            (8, [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]),
            (9, [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC]),
            (10, [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80]),
        ]
        for (k, expected) in expectations {
            var line = DockerLine()
            #expect(decodeHead(Array(bytes[..<(prefix.count + k)]), into: &line))
            #expect(line.log == expected, "cut after \(k) bytes")
        }
        // Invalid bytes that are not a cut sequence are kept as given.
        var line = DockerLine()
        #expect(decodeHead(prefix + [0x61, 0x80, 0x80, 0x80, 0x80], into: &line))
        #expect(line.log == [0x61, 0x80, 0x80, 0x80, 0x80])
    }

    @Test func headLongLogCut() {
        let value = String(repeating: "abcdefghi\\n", count: 20_000)
        let full = #"{"log":"\#(value)","stream":"stdout"}"#
        var line = DockerLine()
        // 8 bytes of prefix, then 16_378 bytes of value = 1_488 × 11 + 10: the cut falls between "\" and "n".
        let cut = 16_386
        #expect(decodeHead(full, cutAfter: cut, into: &line))
        let raw = Array(value.utf8)[..<(cut - 8)]
        var expected: [UInt8] = []
        var k = raw.startIndex
        while k < raw.endIndex {
            if raw[k] == 0x5C {
                if k + 1 < raw.endIndex {
                    expected.append(0x0A)
                    k += 2
                } else {
                    break
                }
            } else {
                expected.append(raw[k])
                k += 1
            }
        }
        #expect(line.log == expected)
        #expect(line.stream == .other)
    }

    @Test func headWithoutLog() {
        var line = DockerLine()
        #expect(!decodeHead(Array(#"{"stream":"stdout","ti"#.utf8), into: &line))
        #expect(line.stream == .stdout)
        #expect(line.log.isEmpty)
        #expect(!decodeHead(Array(#"{"stream":"stdout","time":"T","attrs":{"a":"#.utf8), into: &line))
        #expect(line.stream == .stdout)
        #expect(text(line.time) == "T")
        #expect(line.attrs.isEmpty)
        #expect(!decodeHead(Array("garbage".utf8), into: &line))
        #expect(!decodeHead([], into: &line))
        #expect(!decodeHead(Array(#"{"log":5"#.utf8), into: &line))
    }
}
