/// Shared access signatures for IoT Hub: what is signed, and the token built from the signature.
public struct SASToken: Sendable {
    /// `{hub}/devices/{device}/modules/{module}`
    public let resourceURI: String
    /// Seconds since the epoch.
    public let expiry: Int64
    public let token: String

    public static func resourceURI(hub: String, device: String, module: String) -> String {
        "\(hub)/devices/\(device)/modules/\(module)"
    }

    /// `urlencode(uri) + "\n" + expiry`: the bytes the key signs.
    public static func stringToSign(resourceURI: String, expiry: Int64) -> [UInt8] {
        Array((urlEncode(resourceURI) + "\n" + String(expiry)).utf8)
    }

    /// Builds the token from the base64 signature of `stringToSign`.
    public init(resourceURI: String, expiry: Int64, signatureBase64: String) {
        self.resourceURI = resourceURI
        self.expiry = expiry
        token = "SharedAccessSignature sr=\(Self.urlEncode(resourceURI))&sig=\(Self.urlEncode(signatureBase64))&se=\(expiry)"
    }

    /// Signs locally with a base64 shared access key (development mode).
    public static func signLocally(resourceURI: String, expiry: Int64, keyBase64: String) -> SASToken? {
        guard let key = Base64.decode(keyBase64), !key.isEmpty else { return nil }
        let digest = HMACSHA256.authenticate(stringToSign(resourceURI: resourceURI, expiry: expiry), key: key)
        return SASToken(resourceURI: resourceURI, expiry: expiry, signatureBase64: Base64.encode(digest))
    }

    /// Percent-encoding of everything but RFC 3986 unreserved characters.
    public static func urlEncode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0x0F)]], as: UTF8.self)
            }
        }
        return out
    }
}

extension SASToken: CustomStringConvertible {
    /// Never the signature.
    public var description: String { "SAS token for \(resourceURI), expires at \(expiry)" }
}
