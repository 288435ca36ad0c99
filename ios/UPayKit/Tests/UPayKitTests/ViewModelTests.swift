import Foundation
import UPayCore
import UPayKit
import XCTest

/// The @Observable view models the SwiftUI screens render, driven by the real core.
@MainActor
final class ViewModelTests: XCTestCase {
    func testTheLoginModelWalksThroughThePasswordAndSmsSteps() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet()
        let model = LoginModel(client: w.client)
        defer { model.stop() }
        XCTAssertEqual(model.step, .credentials)

        await model.login(phone: user.phone, password: "Wrong0000")
        XCTAssertEqual(model.error?.code, .invalidCredentials)
        XCTAssertEqual(model.error?.attemptsRemaining, 4)
        XCTAssertEqual(model.step, .credentials)

        await model.login(phone: user.phone, password: user.password)
        guard case let .code(destination) = model.step else { return XCTFail("\(model.step)") }
        XCTAssertTrue(destination.hasSuffix(String(user.phone.suffix(4))))
        XCTAssertNil(model.error)

        await model.submit(code: try await Mock.latestSmsCode(user.phone))
        guard case let .signedIn(profile) = model.step else { return XCTFail("\(model.step)") }
        XCTAssertEqual(profile.userId, user.userId)
        XCTAssertFalse(model.busy)

        // Signed out elsewhere: the model goes back to the password step.
        try await w.session.logout()
        try await until("back to the password step") { model.step == .credentials }
    }

    func testTheHomeModelFollowsTheCoresEvents() async throws {
        let user = try await Mock.newUser(cnyMinor: 150_000, transactions: 25)
        let w = try TestWallet()
        try await w.signIn(user)
        let home = HomeModel(client: w.client)
        home.start()
        defer { home.stop() }
        try await until("the first snapshot") { home.snapshot?.signedIn == true }

        await home.refresh()
        XCTAssertFalse(home.refreshing)
        XCTAssertEqual(home.snapshot?.balances.first { $0.currency == "CNY" }?.serverAvailable.minor, 150_000)
        XCTAssertEqual(home.snapshot?.recent.count, 20)

        // A change made elsewhere (the core's background sync, another screen) reaches the
        // view model through the core's events.
        try await Mock.incomingTransfer(user.userId, cnyMinor: 5_00)
        _ = try await w.sync.syncNow()
        try await until("the new balance") {
            home.snapshot?.balances.first { $0.currency == "CNY" }?.serverAvailable.minor == 150_500
        }
        XCTAssertEqual(home.snapshot?.recent.first?.amount.minor, 5_00)

        // Back from the background locked: the reason shows; unlocked, it goes away.
        w.session.lockApp()
        await home.didEnterForeground()
        XCTAssertEqual(home.error?.code, .appLocked)
        try await w.session.unlockApp(reason: "解锁U钱包")
        await home.didEnterForeground()
        XCTAssertNil(home.error)
    }

    func testTheTransferModelAsksForConfirmationAndThenCompletes() async throws {
        let payer = try await Mock.newUser()
        let payee = try await Mock.newUser(cnyMinor: 0)
        let w = try TestWallet()
        try await w.signIn(payer)
        let model = TransferModel(client: w.client)
        defer { model.stop() }

        await model.send(to: .accountId(accountId: payee.userId), amount: cny(-5), note: nil)
        XCTAssertEqual(model.error?.code, .invalidInput)
        XCTAssertEqual(model.phase, .editing)

        await model.send(to: .accountId(accountId: payee.userId), amount: cny(66_00), note: "房租")
        guard case let .needsConfirmation(first, _, _) = model.phase else { return XCTFail("\(model.phase)") }
        // Cancelled elsewhere (another screen, the outbox list): the model follows.
        _ = try w.payments.cancel(itemId: first.id)
        try await until("the model follows the cancel") { model.phase == .editing }

        await model.send(to: .accountId(accountId: payee.userId), amount: cny(66_00), note: "房租")
        guard case let .needsConfirmation(_, reasons, _) = model.phase else { return XCTFail("\(model.phase)") }
        XCTAssertEqual(reasons, ["new_payee"])

        await model.confirm(reason: "Pay ¥66.00")
        guard case let .done(_, transaction) = model.phase else { return XCTFail("\(model.phase)") }
        XCTAssertEqual(transaction?.amount.minor, -66_00)
    }

    func testTheHistoryModelReadsTheCachePageByPageToTheEnd() async throws {
        let user = try await Mock.newUser(cnyMinor: 400_000, transactions: 249)
        let w = try TestWallet()
        try await w.signIn(user)
        _ = try await w.sync.syncNow()
        let model = HistoryModel(history: w.history, pageSize: 100)
        await model.reload()
        XCTAssertEqual(model.items.count, 100)
        await model.loadMore()
        XCTAssertEqual(model.items.count, 200)
        await model.loadMore()
        // 249 generated entries and the opening credit, newest first, none twice.
        XCTAssertTrue(model.endReached)
        XCTAssertEqual(model.items.count, 250)
        XCTAssertEqual(Set(model.items.map(\.id)).count, 250)
        XCTAssertTrue(zip(model.items, model.items.dropFirst()).allSatisfy { $0.createdAt >= $1.createdAt })

        var large = HistoryFilter.everything
        large.minMinor = 40_000
        await model.reload(filter: large)
        while !model.endReached { await model.loadMore() }
        XCTAssertTrue(model.items.allSatisfy { abs($0.amount.minor) >= 40_000 })
    }

    func testThePaycodeModelShowsCodesAnnouncesAChargeAndTurnsOff() async throws {
        let user = try await Mock.newUser(cnyMinor: 300_00)
        let w = try TestWallet()
        try await w.signIn(user)
        let live = w.client.startLiveEvents()
        defer { live.stop() }
        let model = PaycodeModel(client: w.client)
        model.start()
        defer { model.stop() }
        try await until("the cached state") { model.info != nil }
        XCTAssertEqual(model.info?.enabled, false)
        XCTAssertNil(model.code)

        await model.enable()
        try await until("a code") { model.code != nil }
        let code = try XCTUnwrap(model.code).code
        XCTAssertEqual(code.count, 18)

        let (status, failure) = try await Mock.redeemPaymentCode(code, cnyMinor: 12_80, idempotencyKey: "sw-vm-\(w.config.deviceId)")
        XCTAssertEqual(status, 201, failure ?? "")
        try await until("the charge is announced") { model.lastCharge != nil }
        XCTAssertEqual(model.lastCharge?.amount.minor, 12_80)
        XCTAssertEqual(model.lastCharge?.merchantName, "全家便利店")
        XCTAssertEqual(model.info?.remainingToday?.minor, 2_000_00 - 12_80)

        // Locked, the code leaves the screen with the reason; unlocked, it comes back.
        w.session.lockApp()
        model.resume()
        try await until("the code hidden while locked") { model.error?.code == .appLocked }
        XCTAssertNil(model.code)
        try await w.session.unlockApp(reason: "解锁U钱包")
        model.resume()
        try await until("the code back after unlocking") { model.code != nil && model.error == nil }

        await model.disable()
        XCTAssertEqual(model.info?.enabled, false)
        XCTAssertNil(model.code)
        XCTAssertFalse(model.busy)
    }
}
