import Foundation
import UPayCore
import UPayKit
import XCTest

/// One client shared by many threads, mixing cache reads and network calls.
final class ConcurrencyTests: XCTestCase {
    func testSixteenThreadsShareOneClient() async throws {
        let user = try await Mock.newUser(cnyMinor: 300_000, transactions: 120)
        let w = try TestWallet()
        try await w.signIn(user)
        _ = try await w.sync.syncNow()
        let expected = try w.client.homeSnapshot()
        let (client, history, session, sync) = (w.client, w.history, w.session, w.sync)

        // Sixteen threads alive at once (as an app's background queues would be), each
        // making synchronous cache reads and awaiting an async network call.
        let rounds = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    try await onNewThread {
                        for round in 0..<10 {
                            let home = try client.homeSnapshot()
                            let page = try history.page(filter: .everything, cursor: nil, limit: 50)
                            guard home.balances == expected.balances, home.recent == expected.recent,
                                  page.items.count == 50
                            else { throw MockError(description: "worker \(worker) read an inconsistent cache") }
                            if (worker + round) % 2 == 0 {
                                let profile = try blockingAwait { try await session.refreshProfile() }
                                guard profile.userId == user.userId else { throw MockError(description: "wrong profile") }
                            } else {
                                _ = try blockingAwait { try await sync.syncNow() }
                            }
                        }
                        return 10
                    }
                }
            }
            var total = 0
            for try await done in group { total += done }
            return total
        }
        XCTAssertEqual(rounds, 16 * 10)
        XCTAssertEqual(try w.client.homeSnapshot().balances, expected.balances)
    }
}

/// Runs `body` on a thread of its own and returns its result.
private func onNewThread<T>(_ body: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Awaits `body` from a plain thread (never from a task: it blocks the calling thread).
private func blockingAwait<T>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = ResultBox<T>()
    Task {
        do { result.value = .success(try await body()) } catch { result.value = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result.value!.get()
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: Result<T, Error>?
}
