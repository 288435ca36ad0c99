// swift-tools-version:5.9
// UPayKit: the iOS app's access to the Rust core. `UPayCore` holds the uniffi-generated Swift
// bindings and `UPayCoreFFI` their C header and library; both are build outputs, never
// committed. `UPayKit` adds the Keychain key store and the view models the SwiftUI app renders.
//
// The library comes from one of two places (docs/bindings.md):
// - Apple platforms: `UPayCoreFFI.xcframework` (static libraries for device and simulator),
//   made by bindings/scripts/build-xcframework.sh on a Mac;
// - Linux (the binding tests): the host `libupay_core.so` as a system library, set up by
//   bindings/scripts/test-swift.sh.
import Foundation
import PackageDescription

let xcframework = "UPayCoreFFI.xcframework"
let useXCFramework = FileManager.default.fileExists(
    atPath: URL(fileURLWithPath: Context.packageDirectory).appendingPathComponent(xcframework).path
)

let package = Package(
    name: "UPayKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "UPayKit", targets: ["UPayKit"]),
    ],
    targets: [
        useXCFramework
            ? .binaryTarget(name: "UPayCoreFFI", path: xcframework)
            : .systemLibrary(name: "UPayCoreFFI", path: "Sources/UPayCoreFFI"),
        .target(name: "UPayCore", dependencies: ["UPayCoreFFI"], path: "Sources/UPayCore"),
        .target(name: "UPayKit", dependencies: ["UPayCore"], path: "Sources/UPayKit"),
        .testTarget(name: "UPayKitTests", dependencies: ["UPayKit", "UPayCore"], path: "Tests/UPayKitTests"),
    ]
)
