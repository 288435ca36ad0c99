import UPayCore
import UPayKit
import XCTest

/// The outbox: a payment made without a network waits, then arrives exactly once.
final class OfflineQueueTests: XCTestCase {
    func testATransferMadeOfflineWaitsAndIsSentOnceWhenTheNetworkReturns() async throws {
        let payer = try await Mock.newUser(cnyMinor: 500_000)
        let payee = try await Mock.newUser(cnyMinor: 0)
        let network = try TCPProxy(upstreamPort: Mock.port)
        defer { network.close() }
        let w = try TestWallet(baseURL: network.url)
        try await w.signIn(payer)
        try await w.payOnce(payee)
        _ = try await w.sync.syncNow()
        let before = try w.cnyBalance().serverAvailable.minor
        let events = EventRecorder()
        let registration = w.client.listen { events.add($0) }

        network.goOffline()
        let outcome = try await w.payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(12_34), note: "离线转账")
        guard case let .queued(item) = outcome else { return XCTFail("\(outcome)") }
        // .queued, or .unknown when an attempt went out on a connection the proxy was cutting
        // (the core cannot know it was not read); either goes once, with the same key.
        XCTAssertTrue(item.state == .queued || item.state == .unknown, "\(item.state)")
        try await events.wait(for: "offline") { $0 == .connectivityChanged(online: false) }

        // Offline, the home screen shows the payment as pending and the money as spoken for.
        let home = try w.client.homeSnapshot()
        XCTAssertTrue(home.offline)
        XCTAssertEqual(home.pending.map(\.id), [item.id])
        let balance = try XCTUnwrap(home.balances.first { $0.currency == "CNY" })
        XCTAssertEqual(balance.unconfirmedOut.minor, 12_34)
        XCTAssertEqual(balance.displayed.minor, before - 12_34)

        // The network returns: the core resumes its outbox by itself.
        try network.goOnline()
        w.client.networkChanged(available: true)
        try await events.wait(for: "the queued transfer to settle") { event in
            guard case let .outboxChanged(items) = event else { return false }
            return items.contains { $0.id == item.id && $0.state == .settled }
        }
        try await events.wait(for: "online") { $0 == .connectivityChanged(online: true) }
        registration.cancel()

        _ = try await w.sync.syncNow()
        let sent = try w.history.page(filter: toPayee(payee.userId, minor: 12_34), cursor: nil, limit: 100).items
        XCTAssertEqual(sent.count, 1, "the transfer arrived exactly once")
        XCTAssertEqual(sent.first?.amount.minor, -12_34)
        let after = try w.cnyBalance()
        XCTAssertEqual(after.serverAvailable.minor, before - 12_34)
        XCTAssertEqual(after.unconfirmedOut.minor, 0)
        XCTAssertEqual(after.displayed, after.serverAvailable)
        let flushed = try await w.sync.flushOutbox()
        XCTAssertEqual(flushed, 0, "nothing is left to send")
        XCTAssertFalse(try w.client.homeSnapshot().offline)
    }
}
