import UPayCore
import UPayKit
import XCTest

/// Sign-in with an SMS code, and errors as typed Swift errors with stable codes.
final class SessionTests: XCTestCase {
    func testANewDeviceSignsInWithTheSmsCodeFromTheMockOutbox() async throws {
        let user = try await Mock.newUser()
        let w = try TestWallet()
        XCTAssertFalse(try w.client.homeSnapshot().signedIn)
        guard case let .codeRequired(destination, reason) = try await w.session.login(phone: user.phone, password: user.password) else {
            return XCTFail("a new device needs an SMS code")
        }
        XCTAssertEqual(reason, "new_device")
        XCTAssertEqual(destination, String(user.phone.prefix(3)) + "****" + String(user.phone.suffix(4)))

        let profile = try await w.session.submitLoginCode(code: try await Mock.latestSmsCode(user.phone))
        XCTAssertEqual(profile.userId, user.userId)
        XCTAssertEqual(profile.fullName, user.fullName)
        XCTAssertEqual(w.session.profile(), profile)
        XCTAssertTrue(try w.client.homeSnapshot().signedIn)

        // The device is known now: the next sign-in needs no code.
        try await w.session.logout()
        XCTAssertNil(w.session.profile())
        guard case let .signedIn(again) = try await w.session.login(phone: user.phone, password: user.password) else {
            return XCTFail("a known device signs in without a code")
        }
        XCTAssertEqual(again.userId, user.userId)
    }

    func testAWrongPasswordIsATypedServerErrorInTheClientsLanguage() async throws {
        let user = try await Mock.newUser()
        let english = try TestWallet(locale: "en")
        guard case let .Server(code, message, status, attempts, _, _, requestId)? =
            await coreError({ _ = try await english.session.login(phone: user.phone, password: "Wrong0000") })
        else { return XCTFail("a server error") }
        XCTAssertEqual(code, .invalidCredentials)
        XCTAssertEqual(status, 401)
        XCTAssertEqual(attempts, 4)
        XCTAssertEqual(message, errorMessage(code: .invalidCredentials, locale: "en"))
        XCTAssertFalse(requestId?.isEmpty ?? true)

        let chinese = try TestWallet(locale: "zh-CN")
        let error = await coreError { _ = try await chinese.session.login(phone: user.phone, password: "Wrong0000") }
        guard case let .Server(zhCode, zhMessage, _, zhAttempts, _, _, _)? = error else { return XCTFail("a server error") }
        XCTAssertEqual(zhCode, .invalidCredentials)
        XCTAssertEqual(zhAttempts, 3)
        XCTAssertEqual(zhMessage, errorMessage(code: .invalidCredentials, locale: "zh-CN"))
        XCTAssertNotEqual(zhMessage, message)
        // No personal data in what the error prints.
        let printed = String(describing: error!)
        XCTAssertFalse(printed.contains(user.phone) || printed.contains(user.password))
    }

    func testFailuresFoundOnTheDeviceAreTypedClientErrors() async throws {
        let w = try TestWallet()
        guard case let .Client(code, message)? = await coreError({ _ = try await w.session.login(phone: "12", password: "Demo1234") }) else {
            return XCTFail("a client error")
        }
        XCTAssertEqual(code, .invalidInput)
        XCTAssertTrue(message.hasSuffix("(phone)"))

        let signedOut = await coreError {
            _ = try await w.payments.transfer(to: .accountId(accountId: "U0000000002"), amount: cny(100), note: nil)
        }
        XCTAssertEqual(signedOut?.code, .notSignedIn)

        var insecure = w.config
        insecure.baseUrl = "http://api.example.com"
        let refused = await coreError { _ = try WalletClient(config: insecure, keyStore: w.keyStore, logger: nil) }
        XCTAssertEqual(refused?.code, .insecureConnection)
    }
}
