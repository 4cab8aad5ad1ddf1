/// A test-only CA and a server certificate for localhost and 127.0.0.1 it signed (valid until 2126), made with
/// openssl for the TLS tests. The key protects nothing but these tests.
enum TestCertificates {
    static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBmzCCAUGgAwIBAgIUYg2dI8j1STIgo4mEZFDKS1anxAAwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPRWRnZUxvZyBUZXN0IENBMCAXDTI2MTEyNzIwMjEyNVoYDzIx
        MjYxMTAzMjAyMTI1WjAaMRgwFgYDVQQDDA9FZGdlTG9nIFRlc3QgQ0EwWTATBgcq
        hkjOPQIBBggqhkjOPQMBBwNCAASlOBh85EuYq5jf7Qp7k6miyhDHLk4Ec8h/3fX9
        BuT2VFLpJto6iU6I2lNrPXM2x/HgIT/COiG1Y470acz1sQ7Lo2MwYTAdBgNVHQ4E
        FgQUNXGX3FqYGRba04jhahvG/nWAEp0wHwYDVR0jBBgwFoAUNXGX3FqYGRba04jh
        ahvG/nWAEp0wDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI
        zj0EAwIDSAAwRQIgOPihovY58JGMeyGMbXdpKv741SpHMEZNuqnUfhFpEvwCIQDM
        IHOcKfy78i8yF17zAMiWW1Y8I4z7M3CpgSfaHe50jA==
        -----END CERTIFICATE-----
        """

    static let serverPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBwTCCAWigAwIBAgIUOTbO5A0zpfOrWrwRg2ul9GrRzUswCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPRWRnZUxvZyBUZXN0IENBMCAXDTI2MTEyNzIwMjEyNVoYDzIx
        MjYxMTAzMjAyMTI1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAAQNWTVTNPcwbYKz2giPkGgA/2FyooSZK4g3z395vGA1yU6x
        KAHdpe9l3h13Fk9wzvq9GbRdAgF7BatvaI2TmPI+o4GPMIGMMBoGA1UdEQQTMBGC
        CWxvY2FsaG9zdIcEfwAAATAJBgNVHRMEAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNV
        HSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUJDX8802cCuXTfc3bsVnxNqQ9qh4w
        HwYDVR0jBBgwFoAUNXGX3FqYGRba04jhahvG/nWAEp0wCgYIKoZIzj0EAwIDRwAw
        RAIgEG8iEynrEQw7qO8JuL0cViuOCP49Q4JK8pd+pNvka6YCICyISbxoYoEQ32pP
        CO30MKZ1PNGC9UWshIEPX2tPU0nG
        -----END CERTIFICATE-----
        """

    static let serverKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghjlpjQi5LfwGyfZY
        1GdcriwVzjGLXeoOpDcT7DDiRyahRANCAAQNWTVTNPcwbYKz2giPkGgA/2FyooSZ
        K4g3z395vGA1yU6xKAHdpe9l3h13Fk9wzvq9GbRdAgF7BatvaI2TmPI+
        -----END PRIVATE KEY-----
        """
}
