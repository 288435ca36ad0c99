// swift-tools-version:5.9
// UPayKit: the iOS app's access to the Rust core. `UPayCore` holds the uniffi-generated Swift
// bindings and `UPayCoreFFI` their C header; both are generated at build time by
// `bindings/scripts/generate.sh` (never committed). `UPayKit` adds the Keychain key store and
// the view models the SwiftUI app renders.
import PackageDescription

let package = Package(
    name: "UPayKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "UPayKit", targets: ["UPayKit"]),
    ],
    targets: [
        .systemLibrary(name: "UPayCoreFFI", path: "Sources/UPayCoreFFI"),
        .target(name: "UPayCore", dependencies: ["UPayCoreFFI"], path: "Sources/UPayCore"),
        .target(name: "UPayKit", dependencies: ["UPayCore"], path: "Sources/UPayKit"),
        .testTarget(name: "UPayKitTests", dependencies: ["UPayKit", "UPayCore"], path: "Tests/UPayKitTests"),
    ]
)
