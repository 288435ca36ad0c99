import UPayCore
import UPayKit
import XCTest

/// The in-store payment code and savings, driven from Swift over the real core and mock.
final class PaycodeSavingsTests: XCTestCase {
    func testAPaymentCodeShownByTheCorePaysOnceAtTheTillAndThePaymentSyncs() async throws {
        let user = try await Mock.newUser(cnyMinor: 500_00)
        let w = try TestWallet()
        try await w.signIn(user)
        let paycode = w.client.paycode()
        let off = await coreError { _ = try paycode.currentCode() }
        XCTAssertEqual(off?.code, .paycodeNotEnabled)

        let info = try await paycode.enable()
        XCTAssertTrue(info.enabled)
        XCTAssertEqual(info.perCodeLimit?.minor, 1_000_00)
        let shown = try paycode.currentCode()
        XCTAssertEqual(shown.code.count, 18)
        XCTAssertTrue(shown.code.hasPrefix("28"))
        XCTAssertEqual(shown.display.replacingOccurrences(of: " ", with: ""), shown.code)
        XCTAssertTrue((1...60).contains(shown.refreshInSecs))

        let (paid, paidCode) = try await Mock.redeemPaymentCode(shown.code, cnyMinor: 23_50, idempotencyKey: "sw-till-\(w.config.deviceId)-1")
        XCTAssertEqual(paid, 201, paidCode ?? "")
        let (again, againCode) = try await Mock.redeemPaymentCode(shown.code, cnyMinor: 23_50, idempotencyKey: "sw-till-\(w.config.deviceId)-2")
        XCTAssertEqual(again, 409)
        XCTAssertEqual(againCode, "paycode_used")

        _ = try await w.sync.syncNow()
        XCTAssertEqual(try w.cnyBalance().displayed.minor, 500_00 - 23_50)
        let status = try await paycode.status()
        XCTAssertEqual(status.remainingToday?.minor, 2_000_00 - 23_50)

        // Signing out forgets the secret; the server stops accepting its codes.
        try await w.session.logout()
        let (revoked, revokedCode) = try await Mock.redeemPaymentCode(shown.code, cnyMinor: 1_00, idempotencyKey: "sw-till-\(w.config.deviceId)-3")
        XCTAssertEqual(revoked, 422)
        XCTAssertEqual(revokedCode, "paycode_revoked")
    }

    func testSavingsMovesGoThroughTheOutboxAndTheOverviewIsCached() async throws {
        let user = try await Mock.newUser(cnyMinor: 1_000_00)
        let w = try TestWallet()
        try await w.signIn(user)
        let savings = w.client.savings()
        let first = try await savings.refresh()
        XCTAssertFalse(first.fromCache)
        let before = try XCTUnwrap(first.accounts.first { $0.currency == "CNY" })
        XCTAssertFalse(before.annualRatePercent.isEmpty)

        let moved = try await savings.deposit(amount: cny(300_00))
        guard case let .completed(item, _) = moved else { return XCTFail("\(moved)") }
        XCTAssertEqual(item.state, .settled)
        let cached = try XCTUnwrap(try savings.cached())
        XCTAssertEqual(cached.accounts.first { $0.currency == "CNY" }?.balance.minor, before.balance.minor + 300_00)
        XCTAssertEqual(try w.cnyBalance().displayed.minor, 1_000_00 - 300_00)

        guard case .completed = try await savings.withdraw(amount: cny(100_00)) else { return XCTFail("withdrawn") }
        let after = try await savings.refresh()
        XCTAssertEqual(after.accounts.first { $0.currency == "CNY" }?.balance.minor, before.balance.minor + 200_00)
        _ = try await w.sync.syncNow()
        XCTAssertEqual(try w.cnyBalance().displayed.minor, 1_000_00 - 200_00)

        let bad = await coreError { _ = try await savings.deposit(amount: cny(-5)) }
        XCTAssertEqual(bad?.code, .invalidInput)
    }
}
