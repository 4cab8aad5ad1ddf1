// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "EdgeLog",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "edgelog", targets: ["edgelog"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Also dependencies of AsyncHTTPClient; named for the MQTT client (twin), ByteBuffer, HTTP headers, TLS.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // zlib, the system library (zlib1g-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libdeflate, the system library (libdeflate-dev): faster whole-buffer gzip for batches.
        .systemLibrary(name: "CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // gzip: batches with libdeflate, streamed files and decompression with zlib.
        .target(name: "EdgeLogGzip", dependencies: ["CZlib", "CLibdeflate"], swiftSettings: strict),
        // Records, configuration, batcher, spool, checkpoints, sinks protocol. No C, no network.
        .target(
            name: "EdgeLogCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // glibc's allocator settings (malloc.h: mallopt).
        .systemLibrary(name: "CMalloc"),
        // libsystemd, the system library (libsystemd-dev).
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // journald source through sd-journal.
        .target(name: "EdgeLogJournal", dependencies: ["EdgeLogCore", "CSystemd"], swiftSettings: strict),
        // Rotation engine: logrotate's policy without its loss window.
        .target(name: "EdgeLogRotation", dependencies: ["EdgeLogCore", "EdgeLogGzip"], swiftSettings: strict),
        // Docker json-file source (EdgeLogGzip: dockerd's compressed rotated files).
        .target(name: "EdgeLogDocker", dependencies: ["EdgeLogCore", "EdgeLogGzip"], swiftSettings: strict),
        // IoT Edge module: MQTT 3.1.1 (over TLS or WebSocket) to edgeHub, SAS tokens, workload API, twin and direct methods.
        .target(
            name: "EdgeLogTwin",
            dependencies: [
                "EdgeLogCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Azure Monitor Logs Ingestion sink and the generic http sink, on AsyncHTTPClient.
        .target(
            name: "EdgeLogAzure",
            dependencies: [
                "EdgeLogCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // Prometheus text exposition and /healthz over a small HTTP/1.1 server on NIO.
        .target(
            name: "EdgeLogMetrics",
            dependencies: [
                "EdgeLogCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Composition root: builds the pipeline and the service group from a configuration.
        .target(
            name: "EdgeLogApp",
            dependencies: [
                "EdgeLogCore", "EdgeLogDocker", "EdgeLogJournal", "EdgeLogRotation", "EdgeLogGzip", "EdgeLogTwin",
                "EdgeLogAzure", "EdgeLogMetrics", "CMalloc",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "edgelog",
            dependencies: [
                "EdgeLogApp",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .target(name: "EdgeLogTestKit", dependencies: ["EdgeLogCore", "EdgeLogGzip"], swiftSettings: strict),
        .testTarget(name: "EdgeLogCoreTests", dependencies: ["EdgeLogCore", "EdgeLogGzip", "EdgeLogTestKit"]),
        .testTarget(name: "EdgeLogDockerTests", dependencies: ["EdgeLogDocker", "EdgeLogTestKit", "EdgeLogGzip"]),
        .testTarget(name: "EdgeLogJournalTests", dependencies: ["EdgeLogJournal", "EdgeLogTestKit"]),
        .testTarget(name: "EdgeLogRotationTests", dependencies: ["EdgeLogRotation", "EdgeLogGzip", "EdgeLogTestKit"]),
        .testTarget(
            name: "EdgeLogAzureTests",
            dependencies: [
                "EdgeLogAzure", "EdgeLogCore", "EdgeLogTestKit", "EdgeLogGzip",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "EdgeLogMetricsTests",
            dependencies: [
                "EdgeLogMetrics", "EdgeLogCore", "EdgeLogTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EdgeLogAppTests",
            dependencies: ["EdgeLogApp", "EdgeLogGzip", "EdgeLogTestKit", "EdgeLogDocker"]
        ),
        .testTarget(
            name: "EdgeLogTwinTests",
            dependencies: [
                "EdgeLogTwin", "EdgeLogApp", "EdgeLogTestKit", "EdgeLogGzip",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)
