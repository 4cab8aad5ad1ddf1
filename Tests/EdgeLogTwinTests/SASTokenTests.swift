import EdgeLogCore
import Testing
@testable import EdgeLogTwin

@Suite struct SASTokenTests {
    func hex(_ b: [UInt8]) -> String { b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    @Test func sha256KnownVectors() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func hmacRFC4231() {
        // Test case 1
        #expect(
            hex(HMACSHA256.authenticate(Array("Hi There".utf8), key: [UInt8](repeating: 0x0b, count: 20)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        // Test case 2
        #expect(
            hex(HMACSHA256.authenticate(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 6: a key longer than the block
        #expect(
            hex(HMACSHA256.authenticate(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8), key: [UInt8](repeating: 0xaa, count: 131)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func base64RoundTrip() {
        let cases: [(String, String)] = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in cases {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("Z") == nil)
    }

    @Test func tokenShape() {
        let uri = SASToken.resourceURI(hub: "myhub.azure-devices.net", device: "dev 1", module: "edgelog")
        #expect(uri == "myhub.azure-devices.net/devices/dev 1/modules/edgelog")
        #expect(
            SASToken.stringToSign(resourceURI: uri, expiry: 1_700_000_000)
                == Array("myhub.azure-devices.net%2Fdevices%2Fdev%201%2Fmodules%2Fedgelog\n1700000000".utf8))
        let token = SASToken(resourceURI: uri, expiry: 1_700_000_000, signatureBase64: "ab+/c=")
        #expect(token.token == "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev%201%2Fmodules%2Fedgelog&sig=ab%2B%2Fc%3D&se=1700000000")
        #expect(!"\(token)".contains("sig="))
    }

    @Test func localSigningMatchesHMAC() throws {
        let key = Base64.encode(Array("0123456789abcdef0123456789abcdef".utf8))
        let token = try #require(SASToken.signLocally(resourceURI: "h/devices/d/modules/m", expiry: 42, keyBase64: key))
        let expected = Base64.encode(
            HMACSHA256.authenticate(Array("h%2Fdevices%2Fd%2Fmodules%2Fm\n42".utf8), key: Array("0123456789abcdef0123456789abcdef".utf8)))
        #expect(token.token.hasSuffix("&sig=\(PercentEncoding.encode(expected))&se=42"))
        #expect(SASToken.signLocally(resourceURI: "x", expiry: 1, keyBase64: "not base64!") == nil)
    }
}
