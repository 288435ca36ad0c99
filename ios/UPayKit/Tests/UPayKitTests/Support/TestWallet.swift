import Foundation
import UPayCore
import UPayKit
import XCTest

/// The Swift key store the suite gives the core. On Linux there is no CryptoKit or Security, so
/// the crypto is delegated to the core's own file key store (`fileKeyStore(dir:)`), which shares
/// no state or lock with the wallet client: calling it from inside the callback cannot re-enter
/// the client. The Swift side adds what a phone's key store does around the crypto: the user's
/// answer to the Face ID / passcode prompt before each signature, and a record of the calls.
final class TestKeyStore: KeyStore, @unchecked Sendable {
    private let inner: KeyStore
    private let lock = NSLock()
    private var _userConfirms = true
    private var _signReasons: [String] = []
    private var _unwraps = 0
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("upay-keys-\(UUID().uuidString)")
        inner = try fileKeyStore(dir: directory.path)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var userConfirms: Bool {
        get { lock.synchronized { _userConfirms } }
        set { lock.synchronized { _userConfirms = newValue } }
    }

    var signReasons: [String] { lock.synchronized { _signReasons } }
    var unwraps: Int { lock.synchronized { _unwraps } }

    func wrapDataKey(dataKey: Data) throws -> Data { try inner.wrapDataKey(dataKey: dataKey) }

    func unwrapDataKey(wrapped: Data) throws -> Data {
        lock.synchronized { _unwraps += 1 }
        return try inner.unwrapDataKey(wrapped: wrapped)
    }

    func signingPublicKey() throws -> Data { try inner.signingPublicKey() }

    func sign(payload: Data, reason: String) throws -> Data {
        let confirmed: Bool = lock.synchronized {
            _signReasons.append(reason)
            return _userConfirms
        }
        guard confirmed else { throw KeyStoreError.UserCancelled }
        return try inner.sign(payload: payload, reason: reason)
    }

    func deleteSigningKey() throws { try inner.deleteSigningKey() }
}

/// One device: a wallet client with its own cache directory and device id, over `baseURL`
/// (the mock, or a `TCPProxy` in front of it).
final class TestWallet {
    let config: ClientConfig
    let keyStore: TestKeyStore
    let client: WalletClient
    let session: SessionApi
    let payments: PaymentsApi
    let history: HistoryApi
    let sync: SyncApi
    private let keepData: Bool

    init(
        baseURL: String = Mock.url,
        keyStore: TestKeyStore? = nil,
        locale: String = "en",
        dataDir: URL? = nil,
        deviceId: String = TestWallet.newDeviceId()
    ) throws {
        self.keyStore = try keyStore ?? TestKeyStore()
        keepData = dataDir != nil
        let dir = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("upay-swift-\(UUID().uuidString)")
        config = ClientConfig(
            baseUrl: baseURL, dataDir: dir.path, locale: locale, deviceId: deviceId,
            deviceName: "Swift test device", platform: .ios, developerMode: true, spkiPins: [],
            extraCaPem: nil, utcOffsetMinutes: 8 * 60, appLockAfterSecs: 0
        )
        client = try WalletClient(config: config, keyStore: self.keyStore, logger: nil)
        session = client.session()
        payments = client.payments()
        history = client.history()
        sync = client.sync()
    }

    deinit {
        if !keepData { try? FileManager.default.removeItem(atPath: config.dataDir) }
    }

    static func newDeviceId() -> String {
        "sw-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
    }

    /// Signs in as `user`, answering the SMS step with the code from the mock's outbox.
    @discardableResult
    func signIn(_ user: TestUser) async throws -> Profile {
        switch try await session.login(phone: user.phone, password: user.password) {
        case let .signedIn(profile): return profile
        case .codeRequired: return try await session.submitLoginCode(code: try await Mock.latestSmsCode(user.phone))
        }
    }

    /// A confirmed transfer to `payee`, so later small transfers to them need no confirmation.
    func payOnce(_ payee: TestUser, minor: Int64 = 100) async throws {
        let outcome = try await payments.transfer(to: .accountId(accountId: payee.userId), amount: cny(minor), note: nil)
        guard case let .confirmationRequired(item, _) = outcome else {
            throw MockError(description: "expected a confirmation, got \(outcome)")
        }
        guard case .completed = try await payments.confirmPayment(itemId: item.id, reason: "Confirm the payment") else {
            throw MockError(description: "the confirmed payment did not complete")
        }
    }

    func cnyBalance() throws -> BalanceView {
        try XCTUnwrap(client.homeSnapshot().balances.first { $0.currency == "CNY" })
    }
}

func cny(_ minor: Int64) -> Amount { Amount(minor: minor, currency: "CNY") }

/// Collects the batches a listener receives, for tests to wait on.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _batches: [[WalletEvent]] = []

    var batches: [[WalletEvent]] { lock.synchronized { _batches } }
    var events: [WalletEvent] { batches.flatMap { $0 } }

    /// The listener body: only hands the batch over, as listeners must.
    func add(_ batch: [WalletEvent]) { lock.synchronized { _batches.append(batch) } }

    @discardableResult
    func wait(for what: String, timeout: TimeInterval = 10, _ predicate: @escaping (WalletEvent) -> Bool) async throws -> WalletEvent {
        try await until(what, timeout: timeout) { self.events.contains(where: predicate) }
        return events.first(where: predicate)!
    }
}

/// Polls `condition` until it holds (for state outside async code, like proxy counters).
func until(_ what: String, timeout: TimeInterval = 10, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw MockError(description: "timed out waiting for \(what)") }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

/// History entries with `payee` of exactly `minor` (either direction).
func toPayee(_ payee: String, minor: Int64) -> HistoryFilter {
    var filter = HistoryFilter.everything
    filter.counterpartyId = payee
    filter.minMinor = minor
    filter.maxMinor = minor
    return filter
}

/// The `CoreError` that `body` throws; fails the test when it throws nothing or something else.
func coreError(
    _ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line
) async -> CoreError? {
    do {
        try await body()
        XCTFail("expected a CoreError", file: file, line: line)
    } catch let error as CoreError {
        return error
    } catch {
        XCTFail("expected a CoreError, got \(error)", file: file, line: line)
    }
    return nil
}
