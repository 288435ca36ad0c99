import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A user created for one test, so tests never share balances, devices or risk history.
struct TestUser {
    let phone: String
    let password: String
    let fullName: String
    let userId: String
}

struct MockError: Error, CustomStringConvertible {
    let description: String
}

/// The mock server's control API (`/__mock`), reached over HTTP as a developer would with curl.
/// The bindings' test script starts the mock and exports its address as `UPAY_MOCK_URL`.
enum Mock {
    static let url: String = {
        guard let url = ProcessInfo.processInfo.environment["UPAY_MOCK_URL"] else {
            fatalError("UPAY_MOCK_URL is not set: run the suite with bindings/scripts/test-swift.sh")
        }
        return url
    }()

    static var port: UInt16 { UInt16(URLComponents(string: url)!.port!) }

    /// A fresh user with CNY `cnyMinor` and `transactions` generated history entries.
    static func newUser(cnyMinor: Int64 = 1_000_000, transactions: Int = 0, fullName: String = "测试用户") async throws -> TestUser {
        let phone = "17" + (0..<9).map { _ in String(Int.random(in: 0...9)) }.joined()
        let password = "Pw" + (0..<8).map { _ in String(Int.random(in: 0...9)) }.joined()
        let answer = try await send("POST", "/__mock/seed", [
            "user": ["phone": phone, "password": password, "full_name": fullName],
            "balances": [["minor": cnyMinor, "currency": "CNY"]],
            "transactions": transactions,
        ], expect: 201)
        guard let userId = answer["user_id"] as? String else { throw MockError(description: "no user_id") }
        return TestUser(phone: phone, password: password, fullName: fullName, userId: userId)
    }

    /// The newest SMS code the mock "sent" to `phone`, read from its outbox.
    static func latestSmsCode(_ phone: String) async throws -> String {
        let answer = try await send("GET", "/__mock/sms?phone=\(phone)", nil, expect: 200)
        guard let messages = answer["messages"] as? [[String: Any]],
              let code = messages.last?["code"] as? String
        else { throw MockError(description: "no SMS code for this phone in the mock's outbox") }
        return code
    }

    /// Money arriving for `userId` from outside uPay.
    static func incomingTransfer(_ userId: String, cnyMinor: Int64) async throws {
        _ = try await send("POST", "/__mock/incoming-transfer", [
            "to": userId, "amount": ["minor": cnyMinor, "currency": "CNY"], "sender_name": "外部付款人",
        ], expect: 201)
    }

    /// An agent answers in conversation `conversationId`, as from the agent console.
    static func agentReply(_ conversationId: String, text: String, agentId: String = "A001") async throws {
        _ = try await send("POST", "/__mock/support/conversations/\(conversationId)/agent-reply", [
            "agent_id": agentId, "text": text,
        ], expect: 201)
    }

    /// Staff move `userId`'s feedback `feedbackId` to `status` and answer with `reply`.
    static func feedbackStatus(_ userId: String, feedbackId: String, status: String, reply: String) async throws {
        _ = try await send("POST", "/__mock/feedback/\(feedbackId)/status", [
            "user_id": userId, "status": status, "reply": reply,
        ], expect: 200)
    }

    /// A merchant terminal (the demo FamilyMart till) charges a scanned payment code, as a real
    /// till would: its own key and idempotency key. Answers the status and the error code, if any.
    static func redeemPaymentCode(_ code: String, cnyMinor: Int64, idempotencyKey: String) async throws -> (Int, String?) {
        var request = URLRequest(url: URL(string: url + "/v1/terminal/redeem")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "content-type")
        request.setValue("tk_test_familymart_0701", forHTTPHeaderField: "X-Terminal-Key")
        request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key")
        request.setValue("risk=allow", forHTTPHeaderField: "X-Mock-Scenario")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "code": code, "amount": ["minor": cnyMinor, "currency": "CNY"],
            "merchant_id": "M0000000007", "terminal_id": "T0000000701",
        ] as [String: Any])
        let (data, status) = try await exchange(request)
        let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        return (status, body?["code"] as? String)
    }

    private static func exchange(_ request: URLRequest) async throws -> (Data, Int) {
        try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume(returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
                }
            }.resume()
        }
    }

    private static func send(_ method: String, _ path: String, _ body: [String: Any]?, expect: Int) async throws -> [String: Any] {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "content-type")
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, status) = try await exchange(request)
        guard status == expect else {
            throw MockError(description: "\(method) \(path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }
}
