package app.upay.walletkit.support

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.SecureRandom

/** A user created for one test, so tests never share balances, devices or risk history. */
data class TestUser(val phone: String, val password: String, val fullName: String, val userId: String)

/**
 * The mock server's control API (`/__mock`), reached over HTTP as a developer would with curl.
 * The bindings' test script starts the mock and exports its address as `UPAY_MOCK_URL`.
 */
object Mock {
    val url: String = System.getenv("UPAY_MOCK_URL")
        ?: error("UPAY_MOCK_URL is not set: run the suite with bindings/scripts/test-kotlin.sh")
    val port: Int = URI(url).port

    private val http = HttpClient.newHttpClient()
    private val random = SecureRandom()

    /** A fresh user with CNY [cnyMinor] and [transactions] generated history entries. */
    fun newUser(cnyMinor: Long = 1_000_000, transactions: Int = 0, fullName: String = "测试用户"): TestUser {
        val phone = "17" + (1..9).joinToString("") { random.nextInt(10).toString() }
        val password = "Pw" + (1..8).joinToString("") { random.nextInt(10).toString() }
        val body = """{"user":{"phone":"$phone","password":"$password","full_name":"$fullName"},
            "balances":[{"minor":$cnyMinor,"currency":"CNY"}],"transactions":$transactions}"""
        val answer = send("POST", "/__mock/seed", body, expect = 201)
        return TestUser(phone, password, fullName, field(answer, "user_id"))
    }

    /** The newest SMS code the mock "sent" to [phone], read from its outbox. */
    fun latestSmsCode(phone: String): String {
        val answer = send("GET", "/__mock/sms?phone=$phone", null, expect = 200)
        return Regex(""""code"\s*:\s*"(\d{6})"""").findAll(answer).lastOrNull()?.groupValues?.get(1)
            ?: error("no SMS code for this phone in the mock's outbox")
    }

    /** Money arriving for [userId] from outside uPay. */
    fun incomingTransfer(userId: String, cnyMinor: Long, sender: String = "外部付款人") {
        send(
            "POST",
            "/__mock/incoming-transfer",
            """{"to":"$userId","amount":{"minor":$cnyMinor,"currency":"CNY"},"sender_name":"$sender"}""",
            expect = 201,
        )
    }

    /** An agent answers in conversation [conversationId], as from the agent console. */
    fun agentReply(conversationId: String, text: String, agentId: String = "A001") {
        val escaped = text.replace("\\", "\\\\").replace("\"", "\\\"")
        send(
            "POST",
            "/__mock/support/conversations/$conversationId/agent-reply",
            """{"agent_id":"$agentId","text":"$escaped"}""",
            expect = 201,
        )
    }

    /**
     * A merchant terminal (the demo FamilyMart till) charges a scanned payment code, as a
     * real till would: its own key and idempotency key. Answers the status and the body.
     */
    fun redeemPaymentCode(code: String, cnyMinor: Long, idempotencyKey: String): Pair<Int, String> {
        val request = HttpRequest.newBuilder(URI("$url/v1/terminal/redeem"))
            .header("content-type", "application/json")
            .header("X-Terminal-Key", "tk_test_familymart_0701")
            .header("Idempotency-Key", idempotencyKey)
            .header("X-Mock-Scenario", "risk=allow")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    """{"code":"$code","amount":{"minor":$cnyMinor,"currency":"CNY"},
                    "merchant_id":"M0000000007","terminal_id":"T0000000701"}""",
                ),
            )
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return response.statusCode() to response.body()
    }

    /** Staff move [userId]'s feedback [feedbackId] to [status] and answer with [reply]. */
    fun feedbackStatus(userId: String, feedbackId: String, status: String, reply: String) {
        val escaped = reply.replace("\\", "\\\\").replace("\"", "\\\"")
        send(
            "POST",
            "/__mock/feedback/$feedbackId/status",
            """{"user_id":"$userId","status":"$status","reply":"$escaped"}""",
            expect = 200,
        )
    }

    private fun send(method: String, path: String, body: String?, expect: Int): String {
        val request = HttpRequest.newBuilder(URI(url + path))
            .header("content-type", "application/json")
            .method(method, body?.let(HttpRequest.BodyPublishers::ofString) ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == expect) { "$method $path answered ${response.statusCode()}: ${response.body()}" }
        return response.body()
    }

    private fun field(json: String, name: String): String =
        Regex(""""$name"\s*:\s*"([^"]*)"""").find(json)?.groupValues?.get(1) ?: error("no $name in the answer")
}
