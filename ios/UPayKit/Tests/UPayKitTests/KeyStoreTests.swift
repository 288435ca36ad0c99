import Foundation
import UPayCore
import UPayKit
import XCTest

/// The Swift key store behind the core's encrypted cache, payment key and app lock.
final class KeyStoreTests: XCTestCase {
    func testTheCoreChecksTheAppLockWithASignatureFromTheSwiftKeyStore() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet()
        try await w.signIn(user)
        let key = try w.keyStore.signingPublicKey()
        XCTAssertEqual(key.count, 65)
        XCTAssertEqual(key.first, 4)

        w.session.lockApp()
        XCTAssertTrue(w.session.isAppLocked())
        let locked = await coreError { _ = try w.client.homeSnapshot() }
        XCTAssertEqual(locked?.code, .appLocked)

        w.keyStore.userConfirms = false
        let declined = await coreError { try await w.session.unlockApp(reason: "解锁U钱包") }
        XCTAssertEqual(declined?.code, .authenticationCancelled)
        XCTAssertTrue(w.session.isAppLocked())

        w.keyStore.userConfirms = true
        try await w.session.unlockApp(reason: "解锁U钱包")
        XCTAssertFalse(w.session.isAppLocked())
        XCTAssertTrue(try w.client.homeSnapshot().signedIn)
        XCTAssertEqual(w.keyStore.signReasons, ["解锁U钱包", "解锁U钱包"])
    }

    func testTheCacheOpensAgainWithItsKeyStoreAndStartsAfreshWithAnother() async throws {
        let user = try await Mock.newUser(cnyMinor: 100_000, transactions: 12)
        let keys = try TestKeyStore()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upay-swift-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = TestWallet.newDeviceId()
        do {
            let w = try TestWallet(keyStore: keys, dataDir: dir, deviceId: device)
            try await w.signIn(user)
            _ = try await w.sync.syncNow()
        }
        do {
            let w = try TestWallet(keyStore: keys, dataDir: dir, deviceId: device)
            XCTAssertFalse(w.client.keyWasReset())
            XCTAssertEqual(w.session.profile()?.userId, user.userId)
            // Read offline from the encrypted cache: 12 generated entries and the opening credit.
            XCTAssertEqual(try w.history.page(filter: .everything, cursor: nil, limit: 100).items.count, 13)
            XCTAssertEqual(try w.cnyBalance().serverAvailable.minor, 100_000)
        }
        XCTAssertGreaterThanOrEqual(keys.unwraps, 1)

        // Another key store is another phone (or a reinstall): the key is lost, the cache
        // starts again and the user signs in again.
        let w = try TestWallet(keyStore: try TestKeyStore(), dataDir: dir, deviceId: device)
        XCTAssertTrue(w.client.keyWasReset())
        XCTAssertNil(w.session.profile())
        let home = try w.client.homeSnapshot()
        XCTAssertFalse(home.signedIn)
        XCTAssertTrue(home.balances.isEmpty)
    }
}
