import Foundation
import UPayCore
import UPayKit
import XCTest

/// Cancelling a Swift task drops the Rust future half-way (the generated bindings are patched
/// to forward cancellation, see bindings/scripts/patch-swift-cancellation.pl): the request is
/// abandoned, nothing leaks, a payment in flight stays safe, and the client keeps working.
final class CancellationTests: XCTestCase {
    func testCancellingATaskDropsThePendingCallAndClosesItsConnection() async throws {
        let user = try await Mock.newUser()
        let network = try TCPProxy(upstreamPort: Mock.port)
        defer { network.close() }
        let w = try TestWallet(baseURL: network.url)
        try await w.signIn(user)

        network.holdResponses(path: "/v1/me")
        let session = w.session
        let call = Task { try await session.refreshProfile() }
        try await until("the call to be in flight") { network.heldResponses == 1 }
        let started = Date()
        call.cancel()
        do {
            _ = try await call.value
            XCTFail("a cancelled call does not complete")
        } catch is CancellationError {}
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "cancellation does not wait for the answer")
        // The dropped future dropped its HTTP request: the connection is closed.
        try await until("the connection to close: \(network)") { network.abandonedCalls == 1 && network.heldResponses == 0 }

        network.releaseResponses()
        let profile = try await w.session.refreshProfile()
        XCTAssertEqual(profile.userId, user.userId)
        XCTAssertTrue(try w.client.homeSnapshot().signedIn)
    }

    func testATransferCancelledInFlightBecomesUnknownAndIsAppliedExactlyOnce() async throws {
        let payer = try await Mock.newUser(cnyMinor: 500_000)
        let payee = try await Mock.newUser(cnyMinor: 0)
        let network = try TCPProxy(upstreamPort: Mock.port)
        defer { network.close() }
        let w = try TestWallet(baseURL: network.url)
        try await w.signIn(payer)
        try await w.payOnce(payee)
        _ = try await w.sync.syncNow()
        let before = try w.cnyBalance().serverAvailable.minor
        // The worker sends due items too; once it sleeps, the held send is this call's.
        try await network.awaitIdle()

        network.holdResponses(path: "/v1/transfers")
        let payments = w.payments
        let call = Task { try await payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(5_55), note: nil) }
        // The server has executed the transfer; only its answer is missing.
        try await until("the transfer to be in flight") { network.heldResponses == 1 }
        call.cancel()
        _ = try? await call.value
        let item = try XCTUnwrap(try w.payments.outbox(limit: 20).first { $0.amount.minor == 5_55 })
        XCTAssertEqual(item.state, .unknown, "it may have been applied: only a keyed retry is safe")

        network.releaseResponses()
        _ = try await w.sync.flushOutbox()
        try await until("the retry to settle") {
            try w.payments.outbox(limit: 20).first { $0.id == item.id }?.state == .settled
        }
        _ = try await w.sync.syncNow()
        let sent = try w.history.page(filter: toPayee(payee.userId, minor: 5_55), cursor: nil, limit: 100).items
        XCTAssertEqual(sent.count, 1, "the retry replayed the first answer instead of paying twice")
        XCTAssertEqual(try w.cnyBalance().serverAvailable.minor, before - 5_55)
    }

    func testFiftyCancelledTasksLeaveNoSocketsBehind() async throws {
        let user = try await Mock.newUser()
        let network = try TCPProxy(upstreamPort: Mock.port)
        defer { network.close() }
        let w = try TestWallet(baseURL: network.url)
        try await w.signIn(user)
        _ = try await w.session.refreshProfile()
        let descriptors = try openFileDescriptors()

        network.holdResponses(path: "/v1/me")
        let session = w.session
        for i in 0..<50 {
            let call = Task { try await session.refreshProfile() }
            try await until("call \(i) in flight") { network.heldResponses == 1 }
            call.cancel()
            _ = try? await call.value
            try await until("call \(i) to be dropped: \(network)") { network.abandonedCalls == i + 1 }
        }
        network.releaseResponses()
        let profile = try await w.session.refreshProfile()
        XCTAssertEqual(profile.userId, user.userId)
        // Each abandoned call closed its socket (both ends live in this process).
        try await until("descriptors to return to the baseline") { try self.openFileDescriptors() <= descriptors + 4 }
    }

    private func openFileDescriptors() throws -> Int {
        #if os(Linux)
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        #else
        try FileManager.default.contentsOfDirectory(atPath: "/dev/fd").count
        #endif
    }
}
