import EdgeLogCore
import Testing
import EdgeLogGzip

@Suite struct JSONTests {
    @Test func parsesAndSerialisesInOrder() throws {
        let text = #"{"b":1,"a":[true,false,null,"x\"y\\z\n",-2.5,1e3],"c":{"d":"\u00e9\ud83d\ude00"}}"#
        let value = try JSONParser.parse(text)
        #expect(value["b"] == .int(1))
        #expect(value["c"]?["d"]?.stringValue == "é😀")
        #expect(value.serialized() == #"{"b":1,"a":[true,false,null,"x\"y\\z\n",-2.5,1000],"c":{"d":"é😀"}}"#)
    }

    @Test func rejectsBadDocuments() {
        for bad in ["{", "[1,]", #"{"a" 1}"#, #""\x""#, "01x", "{} {}", "\"\u{01}\""] {
            #expect(throws: JSONParser.Failure.self, "\(bad)") { try JSONParser.parse(bad) }
        }
    }

    @Test func escapingReplacesInvalidUTF8() {
        var out: [UInt8] = []
        let input: [UInt8] = [0x61, 0xFF, 0x62, 0xC3, 0x28, 0x22, 0x5C, 0x01, 0xE2, 0x82, 0xAC, 0xED, 0xA0, 0x80]
        let replaced = JSONWriter.appendEscaped(input, to: &out)
        #expect(replaced == 5)  // 0xFF, 0xC3 (bad continuation), and the surrogate ED A0 80 byte by byte
        #expect(String(decoding: out, as: UTF8.self) == "a\u{FFFD}b\u{FFFD}(\\\"\\\\\\u0001€\u{FFFD}\u{FFFD}\u{FFFD}")
    }

    @Test func mergePatchFollowsRFC7396() throws {
        let target = try JSONParser.parse(#"{"a":"b","c":{"d":"e","f":"g"}}"#)
        let patch = try JSONParser.parse(#"{"a":"z","c":{"f":null}}"#)
        #expect(target.merging(patch: patch) == (try JSONParser.parse(#"{"a":"z","c":{"d":"e"}}"#)))
    }

    @Test func batchFormatsConvertBothWays() throws {
        let records = [#"{"Message":"a},{b"}"#, #"{"Message":"[\"x\"]","Extra":{"k":[1,{"z":2}]}}"#, #"{"n":1}"#]
        let array = Array(("[" + records.joined(separator: ",") + "]").utf8)
        let ndjson = BatchFormat.convert(array, from: .jsonArray, to: .ndjson)
        #expect(String(decoding: ndjson, as: UTF8.self) == records.joined(separator: "\n") + "\n")
        #expect(BatchFormat.convert(ndjson, from: .ndjson, to: .jsonArray) == array)
    }

    @Test func globs() {
        #expect(Glob.matches("edge*", "edgeHub"))
        #expect(Glob.matches("*Sensor", "SimulatedTemperatureSensor"))
        #expect(Glob.matches("a?c", "abc"))
        #expect(!Glob.matches("a?c", "abbc"))
        #expect(Glob.selects("edgeHub", include: [], exclude: ["edgeAgent"]))
        #expect(!Glob.selects("edgeAgent", include: ["edge*"], exclude: ["*Agent"]))
        #expect(Glob.selects("net.azure-devices.edge.owner", patterns: ["*", "!net.azure-devices.edge.env"]))
        #expect(!Glob.selects("net.azure-devices.edge.env", patterns: ["*", "!net.azure-devices.edge.env"]))
    }
}

@Suite struct GzipTests {
    @Test func libdeflateBatchesAreGzipThatZlibReads() throws {
        var text: [UInt8] = []
        for i in 0..<20000 { text.append(contentsOf: "{\"n\":\(i),\"m\":\"line \(i % 97)\"}\n".utf8) }
        for level in [1, 6, 9] {
            let packed = try BatchGzip.compress(text, level: level)
            #expect(packed[0] == 0x1F && packed[1] == 0x8B)
            #expect(packed.count < text.count / 4)
            #expect(try Gzip.decompress(packed) == text)
        }
    }

    @Test func streamedGzipRoundTrips() throws {
        var out: [UInt8] = []
        let writer = try GzipWriter(level: 6, chunkSize: 1024) { out.append(contentsOf: $0) }
        var expected: [UInt8] = []
        for i in 0..<5000 {
            let piece = Array("piece \(i)\n".utf8)
            expected += piece
            try writer.write(piece)
        }
        try writer.finish()
        #expect(try Gzip.decompress(out) == expected)
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(out.dropLast(10))) }
    }
}
