package app.upay.walletkit

import app.upay.core.ClientConfig
import app.upay.core.CoreException
import app.upay.core.ErrorCode
import app.upay.core.LoginResult
import app.upay.core.PayeeInput
import app.upay.core.WalletClient
import app.upay.core.coreVersion
import app.upay.core.errorMessage
import app.upay.walletkit.support.Mock
import app.upay.walletkit.support.TestWallet
import app.upay.walletkit.support.cny
import app.upay.walletkit.support.coroutineTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** Sign-in with an SMS code, and errors as typed exceptions with stable codes. */
class SessionTest {
    @Test
    fun `the core library loads through JNA and reports its version`() {
        assertTrue(Regex("""\d+\.\d+\.\d+""").matches(coreVersion()))
    }

    @Test
    fun `a new device signs in with the SMS code read from the mock's outbox`() = coroutineTest {
        val user = Mock.newUser()
        TestWallet().use { w ->
            assertTrue(!w.client.homeSnapshot().signedIn)
            val first = assertIs<LoginResult.CodeRequired>(w.session.login(user.phone, user.password))
            assertEquals("new_device", first.reason)
            assertEquals(user.phone.take(3) + "****" + user.phone.takeLast(4), first.destination)

            val profile = w.session.submitLoginCode(Mock.latestSmsCode(user.phone))
            assertEquals(user.userId, profile.userId)
            assertEquals(user.fullName, profile.fullName)
            assertEquals(profile, w.session.profile())
            assertTrue(w.client.homeSnapshot().signedIn)

            // The device is known now: the next sign-in needs no code.
            w.session.logout()
            assertNull(w.session.profile())
            val again = assertIs<LoginResult.SignedIn>(w.session.login(user.phone, user.password))
            assertEquals(user.userId, again.profile.userId)
        }
    }

    @Test
    fun `a wrong password is a typed server error with a stable code in the client's language`() = coroutineTest {
        val user = Mock.newUser()
        val english = TestWallet(locale = "en").use { w ->
            assertFailsWith<CoreException.Server> { w.session.login(user.phone, "Wrong0000") }
        }
        assertEquals(ErrorCode.INVALID_CREDENTIALS, english.code)
        assertEquals(401, english.status.toInt())
        assertEquals(4u, english.attemptsRemaining)
        assertEquals(errorMessage(ErrorCode.INVALID_CREDENTIALS, "en"), english.userMessage)
        assertTrue(english.requestId!!.isNotEmpty())

        val chinese = TestWallet(locale = "zh-CN").use { w ->
            assertFailsWith<CoreException.Server> { w.session.login(user.phone, "Wrong0000") }
        }
        assertEquals(ErrorCode.INVALID_CREDENTIALS, chinese.code)
        assertEquals(3u, chinese.attemptsRemaining)
        assertEquals(errorMessage(ErrorCode.INVALID_CREDENTIALS, "zh-CN"), chinese.userMessage)
        assertNotEquals(english.userMessage, chinese.userMessage)
        // No personal data in what an exception prints.
        assertTrue(user.phone !in english.toString() && user.password !in english.toString())
    }

    @Test
    fun `a wrong SMS code is OTP_INVALID and the right one still signs in`() = coroutineTest {
        val user = Mock.newUser()
        TestWallet().use { w ->
            assertIs<LoginResult.CodeRequired>(w.session.login(user.phone, user.password))
            val code = Mock.latestSmsCode(user.phone)
            val wrong = if (code == "000000") "111111" else "000000"
            val error = assertFailsWith<CoreException.Server> { w.session.submitLoginCode(wrong) }
            assertEquals(ErrorCode.OTP_INVALID, error.code)
            assertEquals(user.userId, w.session.submitLoginCode(code).userId)
        }
    }

    @Test
    fun `failures found on the device are typed client errors`() = coroutineTest {
        TestWallet().use { w ->
            val badPhone = assertFailsWith<CoreException.Client> { w.session.login("12", "Demo1234") }
            assertEquals(ErrorCode.INVALID_INPUT, badPhone.code)
            assertTrue(badPhone.userMessage.endsWith("(phone)"))

            val signedOut = assertFailsWith<CoreException.Client> {
                w.payments.transfer(PayeeInput.AccountId("U0000000002"), cny(100), null)
            }
            assertEquals(ErrorCode.NOT_SIGNED_IN, signedOut.code)

            val insecure = assertFailsWith<CoreException.Client> {
                WalletClient(w.config.copy(baseUrl = "http://api.example.com"), w.keyStore, null)
            }
            assertEquals(ErrorCode.INSECURE_CONNECTION, insecure.code)
        }
    }
}
