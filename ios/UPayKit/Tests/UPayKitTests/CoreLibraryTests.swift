import XCTest
@testable import UPayKit

final class CoreLibraryTests: XCTestCase {
    func testCoreLibraryLoadsAndReportsItsVersion() {
        let parts = CoreInfo.version.split(separator: ".")
        XCTAssertEqual(parts.count, 3)
        XCTAssertTrue(parts.allSatisfy { Int($0) != nil })
    }
}
