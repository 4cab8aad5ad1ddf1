import EdgeLogCore

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
        Array((PercentEncoding.encode(resourceURI) + "\n" + String(expiry)).utf8)
    }

    /// Builds the token from the base64 signature of `stringToSign`.
    public init(resourceURI: String, expiry: Int64, signatureBase64: String) {
        self.resourceURI = resourceURI
        self.expiry = expiry
        token = "SharedAccessSignature sr=\(PercentEncoding.encode(resourceURI))&sig=\(PercentEncoding.encode(signatureBase64))&se=\(expiry)"
    }

    /// Signs locally with a base64 shared access key (development mode).
    public static func signLocally(resourceURI: String, expiry: Int64, keyBase64: String) -> SASToken? {
        guard let key = Base64.decode(keyBase64), !key.isEmpty else { return nil }
        let digest = HMACSHA256.authenticate(stringToSign(resourceURI: resourceURI, expiry: expiry), key: key)
        return SASToken(resourceURI: resourceURI, expiry: expiry, signatureBase64: Base64.encode(digest))
    }
}

extension SASToken: CustomStringConvertible {
    /// Never the signature.
    public var description: String { "SAS token for \(resourceURI), expires at \(expiry)" }
}
