import EdgeLogCore
import Testing

@Suite struct PercentEncodingTests {
    @Test func unreservedCharactersStayAndEveryOtherByteIsEncoded() {
        #expect(PercentEncoding.encode("AZaz09-._~") == "AZaz09-._~")
        #expect(PercentEncoding.encode("a b/c?d=e&f+g") == "a%20b%2Fc%3Fd%3De%26f%2Bg")
        #expect(PercentEncoding.encode("é") == "%C3%A9")
        #expect(PercentEncoding.encode("") == "")
    }

    @Test func decodingUndoesEncodingAndKeepsWhatIsNotAnEscape() {
        for text in ["p@ss:w/rd%", "é ü", "a+b", ""] {
            #expect(PercentEncoding.decode(PercentEncoding.encode(text)) == text)
        }
        #expect(PercentEncoding.decode("%41%62c") == "Abc")
        // Not escapes: kept byte for byte.
        #expect(PercentEncoding.decode("100%") == "100%")
        #expect(PercentEncoding.decode("%zz%4") == "%zz%4")
        #expect(PercentEncoding.decode("%+1") == "%+1")
    }
}
