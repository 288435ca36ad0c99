import UPayCore
import UPayKit
import XCTest

/// Transfers confirmed by strong customer authentication, signed through the Swift key store.
final class PaymentsTests: XCTestCase {
    func testATransferToANewPayeeIsConfirmedWithASignatureFromTheSwiftKeyStore() async throws {
        let payer = try await Mock.newUser(cnyMinor: 1_000_000)
        let payee = try await Mock.newUser(cnyMinor: 0)
        let w = try TestWallet()
        try await w.signIn(payer)
        try await w.session.enablePaymentConfirmation()

        let outcome = try await w.payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(10_00), note: "午饭")
        guard case let .confirmationRequired(item, confirmation) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(confirmation.reasons, ["new_payee"])
        XCTAssertEqual(item.state, .queued)
        XCTAssertTrue(w.keyStore.signReasons.isEmpty, "nothing is signed before the user confirms")

        let done = try await w.payments.confirmPayment(itemId: item.id, reason: "向新收款人付款 ¥10.00")
        guard case let .completed(settled, transaction) = done else { return XCTFail("\(done)") }
        XCTAssertEqual(settled.state, .settled)
        XCTAssertEqual(transaction?.amount.minor, -10_00)
        XCTAssertEqual(transaction?.note, "午饭")
        XCTAssertEqual(w.keyStore.signReasons, ["向新收款人付款 ¥10.00"])

        // The server verified the signature and moved the money once.
        _ = try await w.sync.syncNow()
        XCTAssertEqual(try w.cnyBalance().serverAvailable.minor, 1_000_000 - 10_00)
    }

    func testATransferOfCNY2000OrMoreNeedsConfirmationEvenToAKnownPayee() async throws {
        let payer = try await Mock.newUser(cnyMinor: 1_000_000)
        let payee = try await Mock.newUser(cnyMinor: 0)
        let w = try TestWallet()
        try await w.signIn(payer)
        try await w.payOnce(payee)
        let small = try await w.payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(1_999_99), note: nil)
        guard case .completed = small else { return XCTFail("\(small)") }

        let large = try await w.payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(2_000_00), note: nil)
        guard case let .confirmationRequired(item, confirmation) = large else { return XCTFail("\(large)") }
        XCTAssertEqual(confirmation.reasons, ["high_amount"])
        guard case .completed = try await w.payments.confirmPayment(itemId: item.id, reason: "Pay ¥2,000.00") else {
            return XCTFail("confirmed")
        }
    }

    func testADeclinedPromptIsATypedErrorAndThePaymentKeepsWaiting() async throws {
        let payer = try await Mock.newUser()
        let payee = try await Mock.newUser(cnyMinor: 0)
        let w = try TestWallet()
        try await w.signIn(payer)
        let outcome = try await w.payments.transfer(to: .phone(phone: payee.phone), amount: cny(88_00), note: nil)
        guard case let .confirmationRequired(item, _) = outcome else { return XCTFail("\(outcome)") }

        w.keyStore.userConfirms = false
        let declined = await coreError { _ = try await w.payments.confirmPayment(itemId: item.id, reason: "Pay ¥88.00") }
        XCTAssertEqual(declined?.code, .authenticationCancelled)
        let waiting = try XCTUnwrap(try w.payments.outbox(limit: 10).first { $0.id == item.id })
        XCTAssertEqual(waiting.state, .queued)
        XCTAssertNotNil(waiting.confirmation, "still waiting for the user")

        w.keyStore.userConfirms = true
        guard case .completed = try await w.payments.confirmPayment(itemId: item.id, reason: "Pay ¥88.00") else {
            return XCTFail("confirmed")
        }
        XCTAssertEqual(w.keyStore.signReasons.count, 2)
    }
}
