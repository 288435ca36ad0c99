import Foundation
import UPayCore
import UPayKit
import XCTest

/// Foreign traits implemented in Swift: the wallet listener and the logger.
final class ListenerTests: XCTestCase {
    func testASwiftListenerReceivesBatchedEventsUntilCancelled() async throws {
        let user = try await Mock.newUser(cnyMinor: 200_000, transactions: 30)
        let w = try TestWallet()
        let events = EventRecorder()
        let registration = w.client.listen { events.add($0) }
        try await w.signIn(user)
        try await events.wait(for: "signed in") { $0 == .sessionChanged(signedIn: true) }

        // The core syncs by itself after sign-in; an explicit sync may find nothing left.
        _ = try await w.sync.syncNow()
        // One sync, one batch: balances, progress and the history change arrive together.
        try await until("the batch of the sync that brought the history") {
            events.batches.contains { Self.isHistorySync($0, count: 30) }
        }
        let batch = try XCTUnwrap(events.batches.first { Self.isHistorySync($0, count: 30) })
        let balances = batch.compactMap { event -> [BalanceView]? in
            if case let .balancesChanged(balances) = event { return balances } else { return nil }
        }
        XCTAssertEqual(balances.count, 1)
        XCTAssertEqual(balances.first?.first { $0.currency == "CNY" }?.serverAvailable.minor, 200_000)

        registration.cancel()
        let seen = events.events.count
        try await Mock.incomingTransfer(user.userId, cnyMinor: 1_00)
        _ = try await w.sync.syncNow()
        XCTAssertEqual(events.events.count, seen, "no delivery after cancel")
    }

    private static func isHistorySync(_ batch: [WalletEvent], count: UInt32) -> Bool {
        batch.contains { if case .syncProgress(_, true) = $0 { return true } else { return false } }
            && batch.contains { if case let .transactionsChanged(n) = $0 { return n >= count } else { return false } }
    }

    func testEventsArriveAsAnAsyncSequence() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet()
        let events = w.client.events()
        let firstBatch = Task { () -> [WalletEvent] in
            for await batch in events { return batch }
            return []
        }
        try await w.signIn(user)
        let batch = await firstBatch.value
        XCTAssertTrue(batch.contains(.sessionChanged(signedIn: true)))
    }

    func testASwiftLoggerReceivesTheCoresRecordsAndNeverASecret() async throws {
        let logger = RecordingLogger()
        setLogger(logger: logger, maxLevel: .debug)
        defer { setLogger(logger: RecordingLogger(), maxLevel: .error) }
        let user = try await Mock.newUser(fullName: "王秘密")
        let payee = try await Mock.newUser(cnyMinor: 0)
        let note = "私人备注-7319"
        let w = try TestWallet()
        guard case .codeRequired = try await w.session.login(phone: user.phone, password: user.password) else {
            return XCTFail("a new device needs a code")
        }
        let code = try await Mock.latestSmsCode(user.phone)
        _ = try await w.session.submitLoginCode(code: code)
        _ = try await w.sync.syncNow()
        _ = try await w.payments.transfer(to: .phone(phone: payee.phone), amount: cny(1_00), note: note)

        let records = logger.records
        XCTAssertTrue(records.contains { $0.message.contains("signed in") }, "records arrive")
        XCTAssertTrue(records.allSatisfy { $0.target.hasPrefix("upay_core") })
        let secrets = [user.password, code, user.phone, "+86" + user.phone, payee.phone, user.fullName, note]
        for record in records {
            for secret in secrets {
                XCTAssertFalse(record.message.contains(secret), "a log record carries personal data: \(record.target)")
            }
        }
    }
}

private final class RecordingLogger: Logger, @unchecked Sendable {
    private let lock = NSLock()
    private var _records: [LogRecord] = []

    var records: [LogRecord] { lock.synchronized { _records } }

    func log(record: LogRecord) {
        lock.synchronized { _records.append(record) }
    }
}
